package flowspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// DuplicateKeys finds the keys written more than once in an object of
// data, which must be valid JSON: encoding/json keeps the last of them
// silently, and another reader may keep the first, so such a value means
// two things. One violation per repeated key, where its object is.
func DuplicateKeys(data []byte) []Violation {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []Violation
	var walk func(path []string) bool
	walk = func(path []string) bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return false
				}
				k, _ := kt.(string)
				if seen[k] {
					out = append(out, Violation{Pointer: pointer(path), Reason: fmt.Sprintf("key %s is written more than once in this object; write each key once", strconv.Quote(k))})
				}
				seen[k] = true
				if !walk(append(path, k)) {
					return false
				}
			}
			_, err = dec.Token() // }
			return err == nil
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if !walk(append(path, strconv.Itoa(i))) {
					return false
				}
			}
			_, err = dec.Token() // ]
			return err == nil
		}
		return true
	}
	walk(nil)
	return out
}
