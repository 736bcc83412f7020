// Test-only library: a valid shared object with an exported function, but no
// gradlab_plugin entry point.
extern "C" __attribute__((visibility("default"))) int gradlab_not_a_plugin() { return 42; }
