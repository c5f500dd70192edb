//go:build !unix

package ledger

// openFlags is empty where the platform has no O_NOFOLLOW; Open still
// refuses what is not a regular file after opening it.
const openFlags = 0

func isLoop(error) bool { return false }
