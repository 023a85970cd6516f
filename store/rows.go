package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"time"

	"github.com/gocql/gocql"
	"gopkg.in/inf.v0"
)

// Query runs a read in the keyspace and renders its rows as a JSON array
// of objects, keys in column order.
func (c *Cassandra) Query(ctx context.Context, stmt string) ([]string, json.RawMessage, error) {
	iter := c.session.Query(stmt).WithContext(ctx).PageSize(1000).Iter()
	rd, err := iter.RowData()
	if err != nil {
		iter.Close()
		return nil, nil, classify(err)
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	n := 0
	for iter.Scan(rd.Values...) {
		if n++; n > c.maxRows {
			iter.Close()
			return nil, nil, fmt.Errorf("%w: more than %d rows; add a LIMIT or a narrower WHERE", ErrTooManyRows, c.maxRows)
		}
		if n > 1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('{')
		for i, col := range rd.Columns {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(col)
			buf.Write(k)
			buf.WriteByte(':')
			v, err := json.Marshal(jsonValue(reflect.ValueOf(rd.Values[i])))
			if err != nil {
				v, _ = json.Marshal(fmt.Sprint(reflect.ValueOf(rd.Values[i]).Elem().Interface()))
			}
			buf.Write(v)
		}
		buf.WriteByte('}')
	}
	if err := iter.Close(); err != nil {
		return nil, nil, classify(err)
	}
	buf.WriteByte(']')
	return rd.Columns, buf.Bytes(), nil
}

var (
	uuidType = reflect.TypeOf(gocql.UUID{})
	timeType = reflect.TypeOf(time.Time{})
)

// jsonValue turns a scanned Cassandra value into something encoding/json
// renders readably: uuids and timestamps as strings, blobs as 0x hex,
// decimals as strings (exact), maps with non-text keys keyed by their text.
func jsonValue(v reflect.Value) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		switch x := v.Interface().(type) {
		case *inf.Dec:
			return x.String()
		case *big.Int:
			return json.Number(x.String())
		}
		v = v.Elem()
	}
	switch v.Type() {
	case uuidType:
		return v.Interface().(gocql.UUID).String()
	case timeType:
		t := v.Interface().(time.Time)
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(f)
		}
		return v.Interface()
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "0x" + hex.EncodeToString(v.Bytes())
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonValue(v.Index(i))
		}
		return out
	case reflect.Array: // tuples
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonValue(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(jsonValue(keys[i])) < fmt.Sprint(jsonValue(keys[j])) })
		for _, k := range keys {
			out[fmt.Sprint(jsonValue(k))] = jsonValue(v.MapIndex(k))
		}
		return out
	}
	return v.Interface()
}
