package engine

// testHook, when set (only by this package's tests, in a child process that
// is about to be killed), is called at named points around record writes so
// a crash can be placed exactly.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}
