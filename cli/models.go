package cli

// Owned by the providers work: kitaru model ...

type modelCmd struct {
	List struct{} `cmd:"" help:"List model aliases."`
}
