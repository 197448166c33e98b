// Package jsonschema checks JSON values against the subset of JSON Schema
// (draft 2020-12) that the project's own schemas use: type, properties,
// required, additionalProperties, enum, const, items, oneOf, minimum and
// local $ref ("#/$defs/NAME"). A keyword outside that subset is an error,
// so a schema can never claim more than is checked.
package jsonschema

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strings"
)

// Schema is a parsed schema document.
type Schema struct {
	root map[string]any
}

var known = map[string]bool{
	"$schema": true, "$id": true, "$defs": true, "$ref": true, "$comment": true,
	"title": true, "description": true,
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"enum": true, "const": true, "items": true, "oneOf": true, "minimum": true,
}

// Parse reads a schema and checks it uses only the supported keywords.
func Parse(b []byte) (*Schema, error) {
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	s := &Schema{root: root}
	if err := s.checkKeywords(root, "#"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Schema) checkKeywords(n map[string]any, at string) error {
	for k, v := range n {
		if !known[k] {
			return fmt.Errorf("schema %s: keyword %q is not supported", at, k)
		}
		switch k {
		case "$defs", "properties":
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("schema %s/%s: want an object", at, k)
			}
			for name, sub := range m {
				sm, ok := sub.(map[string]any)
				if !ok {
					return fmt.Errorf("schema %s/%s/%s: want an object", at, k, name)
				}
				if err := s.checkKeywords(sm, at+"/"+k+"/"+name); err != nil {
					return err
				}
			}
		case "items", "additionalProperties":
			if sm, ok := v.(map[string]any); ok {
				if err := s.checkKeywords(sm, at+"/"+k); err != nil {
					return err
				}
			}
		case "oneOf":
			list, ok := v.([]any)
			if !ok {
				return fmt.Errorf("schema %s/oneOf: want an array", at)
			}
			for i, sub := range list {
				sm, ok := sub.(map[string]any)
				if !ok {
					return fmt.Errorf("schema %s/oneOf/%d: want an object", at, i)
				}
				if err := s.checkKeywords(sm, fmt.Sprintf("%s/oneOf/%d", at, i)); err != nil {
					return err
				}
			}
		case "$ref":
			if _, err := s.resolve(v); err != nil {
				return fmt.Errorf("schema %s: %w", at, err)
			}
		}
	}
	return nil
}

func (s *Schema) resolve(ref any) (map[string]any, error) {
	r, _ := ref.(string)
	name, ok := strings.CutPrefix(r, "#/$defs/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only #/$defs/NAME is supported", r)
	}
	defs, _ := s.root["$defs"].(map[string]any)
	d, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q: no such definition", r)
	}
	return d, nil
}

// ValidateJSON checks one JSON document against the schema.
func (s *Schema) ValidateJSON(b []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("not one JSON value: more after it")
	}
	return s.validate(s.root, v, "$")
}

func (s *Schema) validate(n map[string]any, v any, at string) error {
	if ref, ok := n["$ref"]; ok {
		d, err := s.resolve(ref)
		if err != nil {
			return err
		}
		if err := s.validate(d, v, at); err != nil {
			return err
		}
	}
	if t, ok := n["type"]; ok {
		if err := checkType(t, v, at); err != nil {
			return err
		}
	}
	if c, ok := n["const"]; ok && !equal(c, v) {
		return fmt.Errorf("%s: %v, want %v", at, show(v), show(c))
	}
	if e, ok := n["enum"].([]any); ok {
		hit := false
		for _, c := range e {
			hit = hit || equal(c, v)
		}
		if !hit {
			return fmt.Errorf("%s: %v is not one of %v", at, show(v), show(e))
		}
	}
	if m, ok := n["minimum"]; ok {
		f, isNum := number(v)
		min, _ := number(m)
		if isNum && f < min {
			return fmt.Errorf("%s: %v is below the minimum %v", at, show(v), show(m))
		}
	}
	if obj, ok := v.(map[string]any); ok {
		if err := s.object(n, obj, at); err != nil {
			return err
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := n["items"].(map[string]any); ok {
			for i, e := range arr {
				if err := s.validate(items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	if list, ok := n["oneOf"].([]any); ok {
		var matched []int
		var errs []string
		for i, sub := range list {
			if err := s.validate(sub.(map[string]any), v, at); err == nil {
				matched = append(matched, i)
			} else {
				errs = append(errs, err.Error())
			}
		}
		if len(matched) != 1 {
			if len(matched) == 0 {
				return fmt.Errorf("%s: matches none of oneOf: %s", at, strings.Join(errs, "; "))
			}
			return fmt.Errorf("%s: matches %d of oneOf (%v), want exactly one", at, len(matched), matched)
		}
	}
	return nil
}

func (s *Schema) object(n map[string]any, obj map[string]any, at string) error {
	props, _ := n["properties"].(map[string]any)
	if req, ok := n["required"].([]any); ok {
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: %q is required", at, r)
			}
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if p, ok := props[k].(map[string]any); ok {
			if err := s.validate(p, obj[k], at+"."+k); err != nil {
				return err
			}
			continue
		}
		switch ap := n["additionalProperties"].(type) {
		case bool:
			if !ap {
				return fmt.Errorf("%s: field %q is not in the schema", at, k)
			}
		case map[string]any:
			if err := s.validate(ap, obj[k], at+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkType(t, v any, at string) error {
	var types []string
	switch tt := t.(type) {
	case string:
		types = []string{tt}
	case []any:
		for _, x := range tt {
			types = append(types, x.(string))
		}
	}
	for _, want := range types {
		if typeOf(v) == want || want == "number" && typeOf(v) == "integer" {
			return nil
		}
	}
	return fmt.Errorf("%s: %s %v, want %s", at, typeOf(v), show(v), strings.Join(types, " or "))
}

func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && !strings.ContainsAny(x.String(), ".eE") {
			return "integer"
		}
		return "number"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

func equal(a, b any) bool {
	fa, na := number(a)
	fb, nb := number(b)
	if na && nb {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		b = append(b[:77], "..."...)
	}
	return string(b)
}
