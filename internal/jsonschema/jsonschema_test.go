package jsonschema

import (
	"strings"
	"testing"
)

const testSchema = `{
  "oneOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/b"}],
  "$defs": {
    "n": {"type": "integer", "minimum": 0},
    "a": {"type": "object", "required": ["kind", "n"], "additionalProperties": false,
          "properties": {"kind": {"const": "a"}, "n": {"$ref": "#/$defs/n"}, "tags": {"type": "array", "items": {"enum": ["x", "y"]}}}},
    "b": {"type": "object", "required": ["kind"], "additionalProperties": {"type": ["string", "null"]},
          "properties": {"kind": {"const": "b"}}}
  }
}`

func TestValidate(t *testing.T) {
	s, err := Parse([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	for doc, want := range map[string]string{
		`{"kind":"a","n":3}`:                  "",
		`{"kind":"a","n":3,"tags":["x","y"]}`: "",
		`{"kind":"b","free":"text","z":null}`: "",
		`{"kind":"a","n":-1}`:                 "below the minimum",
		`{"kind":"a","n":1.5}`:                "want integer",
		`{"kind":"a","n":1,"extra":1}`:        `field "extra" is not in the schema`,
		`{"kind":"a"}`:                        `"n" is required`,
		`{"kind":"a","n":1,"tags":["z"]}`:     "is not one of",
		`{"kind":"b","free":1}`:               "want string or null",
		`{"kind":"c"}`:                        "matches none of oneOf",
		`[1]`:                                 "matches none of oneOf",
		`{"kind":"a","n":1}x`:                 "more after it",
		`{"kind":"a","n":1} {}`:               "more after it",
	} {
		err := s.ValidateJSON([]byte(doc))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v, want valid", doc, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an error with %q", doc, err, want)
		}
	}
}

// Two alternatives that both match break oneOf.
func TestOneOfExactlyOne(t *testing.T) {
	s, err := Parse([]byte(`{"oneOf": [{"type": "integer"}, {"type": "number"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ValidateJSON([]byte(`3`)); err == nil || !strings.Contains(err.Error(), "matches 2 of oneOf") {
		t.Errorf("3 against integer|number: %v", err)
	}
	if err := s.ValidateJSON([]byte(`3.5`)); err != nil {
		t.Errorf("3.5: %v", err)
	}
}

// A schema that uses what the checker does not check is refused, so no
// schema claims more than is checked.
func TestParseRefusesUnknownKeywords(t *testing.T) {
	for _, s := range []string{
		`{"pattern": "x"}`,
		`{"properties": {"a": {"format": "date-time"}}}`,
		`{"oneOf": [{"anyOf": []}]}`,
		`{"$ref": "other.json#/x"}`,
		`{"$ref": "#/$defs/missing"}`,
		`{"items": {"maxItems": 1}}`,
		`not json`,
	} {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%s) accepted it", s)
		}
	}
}
