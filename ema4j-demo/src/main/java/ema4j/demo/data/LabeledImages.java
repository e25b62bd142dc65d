package ema4j.demo.data;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * Images with their labels, item {@code i} of one belonging to item {@code i} of the other.
 *
 * @param images the images
 * @param labels one label per image
 */
public record LabeledImages(IdxImages images, IdxLabels labels) {

    /** Checks that there is one label per image. */
    public LabeledImages {
        requireArgument(images != null, "images", "non-null", null);
        requireArgument(labels != null, "labels", "non-null", null);
        requireArgument(labels.count() == images.count(), "labels.count", "images.count = " + images.count(),
                labels.count());
    }

    /**
     * Returns the number of labeled images.
     *
     * @return the common count of images and labels
     */
    public int count() {
        return images.count();
    }
}
