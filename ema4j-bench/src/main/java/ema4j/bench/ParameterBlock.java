package ema4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.List;

/**
 * A DJL block that only holds parameters, given their arrays, so that the benchmarks can track any parameter set with
 * {@code EmaModel}, the way users do; it is never run.
 */
final class ParameterBlock extends AbstractBlock {
    /** A block holding {@code arrays} as weights named {@code names}, in that order. */
    ParameterBlock(List<String> names, List<NDArray> arrays) {
        for (int i = 0; i < arrays.size(); i++) {
            Parameter parameter = addParameter(
                    Parameter.builder().setName(names.get(i)).setType(Parameter.Type.WEIGHT).build());
            parameter.setArray(arrays.get(i));
        }
    }

    /** Initialized from the start: it takes no inputs and its parameters have their arrays. */
    @Override
    public boolean isInitialized() {
        return getParameters().values().stream().allMatch(Parameter::isInitialized);
    }

    @Override
    protected NDList forwardInternal(ParameterStore store, NDList inputs, boolean training,
            PairList<String, Object> params) {
        throw new UnsupportedOperationException("a ParameterBlock is tracked, never run");
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return inputShapes;
    }
}
