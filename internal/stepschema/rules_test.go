package stepschema

import (
	"strings"
	"testing"
)

func TestValidRunID(t *testing.T) {
	for id, want := range map[string]bool{
		"r-42":                               true,
		"01JDXKQ7Z8M3N4P5Q6R7S8T9VW":         true,
		"../../etc/passwd":                   true, // a name, escaped on disk
		"ünï ✓":                              true,
		"":                                   false,
		"r\x00":                              false,
		"r\x1b[2J":                           false,
		"r\r\n":                              false,
		"r\x7f":                              false,
		"r\xff":                              false,
		strings.Repeat("x", MaxRunIDBytes):   true,
		strings.Repeat("x", MaxRunIDBytes+1): false,
	} {
		if got := ValidRunID(id); got != want {
			t.Errorf("ValidRunID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestLookupNamesEveryContractKey(t *testing.T) {
	for key, want := range map[string]Field{
		AttrKind: FieldKind, AttrStatus: FieldStatus, AttrDetail: FieldDetail, AttrDurationMS: FieldDurationMS,
		AttrErrorCode: FieldErrorCode, PrefixSize + "hits": FieldSize, PrefixResource + "model": FieldResource,
		AttrRunID: FieldRunID, "step.unknown": FieldUndefined, "nprobe": FieldOther,
	} {
		if got := Lookup(key).Field; got != want {
			t.Errorf("Lookup(%q) = %v, want %v", key, got, want)
		}
	}
}
