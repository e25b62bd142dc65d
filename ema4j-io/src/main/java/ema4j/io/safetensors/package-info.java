/**
 * Reads and writes the <a href="https://github.com/huggingface/safetensors">safetensors</a> format: an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
 * little-endian, row-major bytes.
 *
 * <p>Our own implementation rather than DJL's {@code NDList.encode(SAFETENSORS)}: that one keeps offsets in 32 bits,
 * silently drops duplicate names and trusts hostile input, and it would pull DJL into the IO module.
 */
package ema4j.io.safetensors;
