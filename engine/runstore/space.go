package runstore

import "syscall"

// The system's errors for a full disk and a used-up quota, which
// os.PathError and friends wrap.
var (
	errNoSpace error = syscall.ENOSPC
	errQuota   error = syscall.EDQUOT
)
