package cli

// Owned by the keyring work: kitaru secrets ...

type secretsCmd struct {
	List struct{} `cmd:"" help:"List secret names."`
}

func rewriteSecretSetArgs(args []string) []string { return args }
