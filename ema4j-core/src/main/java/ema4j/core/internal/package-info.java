/**
 * Not API: what ema4j's own modules share (argument checks, the update counts of an EMA whose shadows an adapter keeps
 * itself). It may change in any release without notice; user code should not depend on it.
 */
package ema4j.core.internal;
