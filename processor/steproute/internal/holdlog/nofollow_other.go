//go:build !unix

package holdlog

const noFollow = 0
