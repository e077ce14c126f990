/**
 * Testing tools for raftlog and for users' own state machines: a
 * linearizability checker for recorded concurrent histories, with register,
 * key-value and event-stream models.
 *
 * @module
 */
export * from "./lincheck/mod.ts";
