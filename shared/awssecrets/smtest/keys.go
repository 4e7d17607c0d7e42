package smtest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// exactKeys checks that every object key in raw is, with its exact case,
// a member of typ (by json tag), recursing into nested structures.
// encoding/json matches names case-insensitively; the service does not,
// so "SecretID" must be an unknown field here, as it is there.
func exactKeys(raw []byte, typ reflect.Type) error {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == rawMessageType || string(raw) == "null" {
		return nil
	}
	switch typ.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil // the typed decode reports it
		}
		for key, val := range obj {
			f, ok := fieldByTag(typ, key)
			if !ok {
				return fmt.Errorf("json: unknown field %q", key)
			}
			if err := exactKeys(val, f.Type); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Uint8 {
			return nil // a blob
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil
		}
		for _, it := range items {
			if err := exactKeys(it, typ.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldByTag(typ reflect.Type, key string) (reflect.StructField, bool) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
