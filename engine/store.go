package engine

// storeMethods is filled in by the store implementation.
type storeMethods interface{}
