package engine

// testHook, when set (only by this package's tests, in a child process that
// is about to be killed), is called at named points around record writes so
// a crash can be placed exactly; path is the record being written, if any.
var testHook func(point, path string)

func hook(point, path string) {
	if testHook != nil {
		testHook(point, path)
	}
}
