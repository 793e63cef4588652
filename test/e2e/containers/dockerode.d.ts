// dockerode ships no types and @types/dockerode is not installed: the e2e
// test uses it untyped, asserting on what the daemon answered.
declare module 'dockerode';
