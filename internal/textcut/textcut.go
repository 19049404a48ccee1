// Package textcut shortens text for messages and narrow screens: cut at a
// character boundary and marked with an ellipsis, looking at no more of
// the text than it keeps, so a megabyte value quoted in an error costs what
// the quote costs.
package textcut

import "unicode/utf8"

// Runes returns s if it has at most n characters, otherwise its first n-1
// characters and "…" (n characters in all). n <= 0 keeps s whole.
func Runes(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s // no more bytes than n, so no more characters
	}
	end, count := 0, 0
	for i := range s {
		if count == n-1 {
			end = i
		}
		if count == n {
			return s[:end] + "…"
		}
		count++
	}
	return s
}

// Bytes returns s if it has at most n bytes, otherwise as many of its
// first bytes as fit in n without splitting a character, and "…".
func Bytes(s string, n int) string {
	if n < 0 || len(s) <= n {
		return s
	}
	k := n
	for k > 0 && !utf8.RuneStart(s[k]) {
		k--
	}
	return s[:k] + "…"
}
