/**
 * Weights in and out of ema4j for other frameworks: tensor renaming between DJL's parameter names and PyTorch's
 * ({@link ema4j.cli.interop.TensorNameMap}), and loading a safetensors file into a DJL block with every name, shape
 * and dtype checked ({@link ema4j.cli.interop.SafetensorsWeights}).
 */
package ema4j.cli.interop;
