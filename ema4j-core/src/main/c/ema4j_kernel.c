/*
 * The float32 EMA update as a compiled loop, called by ema4j.core.NativeKernel through JNI:
 * e[i] = fmaf(a, w[i] - e[i], e[i]), the arithmetic of FloatShadow.averageScalar and so the same bits, up to the
 * first non-finite weight.
 *
 * Blocks of 64 weights are checked as integers (an exponent of all ones is NaN or an infinity), which vectorizes
 * without a float reduction, and then averaged; a block that fails goes to the scalar loop, which averages up to the
 * bad weight and stops there. A scalar head first brings the shadow, which is read and written, to a 64-byte
 * boundary.
 *
 * On x86-64 the loop is compiled twice, for AVX2 with FMA (x86-64-v3) and for plain x86-64, and the loader takes the
 * one the CPU runs. Not for AVX-512: a memory-bound loop gains nothing from 512-bit vectors. Built with
 * -ffp-contract=off, so only the explicit fmaf fuses. -DEMA4J_SINGLE_TARGET compiles one version for the compiler's
 * own target instead, for another platform or, in NativeKernelTest, for plain x86-64 alone.
 */
#include <jni.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

enum { BLOCK = 64, ALIGNMENT = 64 };

#if defined(__x86_64__) && !defined(EMA4J_SINGLE_TARGET)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
static jint average(float *restrict e, const float *restrict w, float a, jint from, jint to) {
    jint i = from;
    jint head = (jint) ((ALIGNMENT - (uintptr_t) (e + i) % ALIGNMENT) % ALIGNMENT / sizeof(float));
    for (jint end = to - i < head ? to : i + head; i < end; i++) {
        if (!isfinite(w[i])) {
            return i;
        }
        e[i] = fmaf(a, w[i] - e[i], e[i]);
    }
    for (; to - i >= BLOCK; i += BLOCK) {
        const float *wb = w + i;
        float *eb = e + i;
        uint32_t special = 0;
        for (int j = 0; j < BLOCK; j++) {
            uint32_t bits;
            memcpy(&bits, wb + j, sizeof bits);
            special |= (bits & 0x7f800000u) + 0x00800000u;   /* the sign bit is set for an exponent of all ones */
        }
        if (special & 0x80000000u) {
            break;
        }
        for (int j = 0; j < BLOCK; j++) {
            eb[j] = fmaf(a, wb[j] - eb[j], eb[j]);
        }
    }
    for (; i < to; i++) {
        if (!isfinite(w[i])) {
            return i;
        }
        e[i] = fmaf(a, w[i] - e[i], e[i]);
    }
    return -1;
}

/*
 * NativeKernel.average0(float[] e, ByteBuffer live, long offset, float a, int from, int to): live is a direct buffer
 * of native-order float32 weights, weight 0 at offset bytes past its address; the caller has checked the range.
 * Returns the index of the first non-finite weight in [from, to), -1 when all were averaged, or -2 when the JVM
 * could not give the shadow's elements.
 */
JNIEXPORT jint JNICALL Java_ema4j_core_NativeKernel_average0(JNIEnv *env, jclass type, jfloatArray shadow,
                                                              jobject live, jlong offset, jfloat a, jint from, jint to) {
    (void) type;
    const float *w = (const float *) ((const char *) (*env)->GetDirectBufferAddress(env, live) + offset);
    /* the JVM may hold off its garbage collector until the release: NativeKernel passes at most 2^20 weights a call */
    float *e = (*env)->GetPrimitiveArrayCritical(env, shadow, NULL);
    if (e == NULL) {
        return -2;
    }
    jint bad = average(e, w, a, from, to);
    (*env)->ReleasePrimitiveArrayCritical(env, shadow, e, 0);
    return bad;
}
