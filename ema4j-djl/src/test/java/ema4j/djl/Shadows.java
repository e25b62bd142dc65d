package ema4j.djl;

import ema4j.core.EmaSnapshot;
import ema4j.core.WeightFormat;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** An EMA's shadows as a user reads them, through {@link EmaModel#snapshot()}, widened to double. */
final class Shadows {
    private Shadows() {}

    /** Every shadow in the order of the averaged parameters. */
    static List<double[]> of(EmaModel ema) {
        List<double[]> values = new ArrayList<>();
        for (EmaSnapshot.SavedShadow shadow : ema.snapshot().shadows()) {
            values.add(widened(shadow));
        }
        return values;
    }

    /** The names of the averaged parameters, in order. */
    static List<String> names(EmaModel ema) {
        return ema.snapshot().shadows().stream().map(EmaSnapshot.SavedShadow::name).toList();
    }

    /** Shadow {@code index} in the order of the averaged parameters. */
    static double[] of(EmaModel ema, int index) {
        return of(ema).get(index);
    }

    private static double[] widened(EmaSnapshot.SavedShadow shadow) {
        ByteBuffer bytes = shadow.values();
        boolean wide = shadow.tensor().format() == WeightFormat.FLOAT64;
        double[] values = new double[shadow.tensor().elementCount()];
        for (int i = 0; i < values.length; i++) {
            values[i] = wide ? bytes.getDouble(8 * i) : bytes.getFloat(4 * i);
        }
        return values;
    }
}
