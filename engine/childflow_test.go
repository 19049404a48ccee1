package engine

func runFlowChild(job string) error { return nil }
