package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Phoenix serializer versions the server negotiates from ?vsn=.
const (
	vsn1 = "1.0.0" // one JSON object per frame
	vsn2 = "2.0.0" // JSON arrays [join_ref, ref, topic, event, payload]
)

// message is one Phoenix frame in either serializer. JoinRef and Ref keep
// the raw JSON the client sent so they are echoed byte for byte; nil means
// JSON null.
type message struct {
	JoinRef json.RawMessage
	Ref     json.RawMessage
	Topic   string
	Event   string
	Payload json.RawMessage
}

var errMalformed = errors.New("malformed message")

// decodeMessage parses a client text frame. Malformed frames are an error
// the caller drops without closing the socket, as the real server does.
func decodeMessage(vsn string, data []byte) (message, error) {
	if vsn == vsn2 {
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil || len(arr) < 5 {
			return message{}, errMalformed
		}
		m := message{JoinRef: nullable(arr[0]), Ref: nullable(arr[1]), Payload: arr[4]}
		if json.Unmarshal(arr[2], &m.Topic) != nil || json.Unmarshal(arr[3], &m.Event) != nil {
			return message{}, errMalformed
		}
		return m, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return message{}, errMalformed
	}
	topic, ok1 := obj["topic"]
	event, ok2 := obj["event"]
	payload, ok3 := obj["payload"]
	ref, ok4 := obj["ref"]
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return message{}, errMalformed
	}
	m := message{JoinRef: nullable(obj["join_ref"]), Ref: nullable(ref), Payload: payload}
	if json.Unmarshal(topic, &m.Topic) != nil || json.Unmarshal(event, &m.Event) != nil {
		return message{}, errMalformed
	}
	return m, nil
}

func nullable(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	return raw
}

func rawOrNull(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return json.RawMessage("null")
	}
	return raw
}

// encodeMessage renders a server frame. V1 frames never carry join_ref,
// matching Phoenix's V1 serializer.
func encodeMessage(vsn string, m message) []byte {
	var out []byte
	var err error
	if vsn == vsn2 {
		out, err = json.Marshal([]json.RawMessage{
			rawOrNull(m.JoinRef), rawOrNull(m.Ref), mustJSON(m.Topic), mustJSON(m.Event), rawOrNull(m.Payload),
		})
	} else {
		out, err = json.Marshal(struct {
			Topic   string          `json:"topic"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
			Ref     json.RawMessage `json:"ref"`
		}{m.Topic, m.Event, rawOrNull(m.Payload), rawOrNull(m.Ref)})
	}
	if err != nil {
		// Every part is either a Go string or JSON this package produced or
		// already parsed, so this is unreachable.
		panic("realtime: encode frame: " + err.Error())
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("realtime: encode: " + err.Error())
	}
	return b
}

// reply builds the phx_reply to m with a status and response.
func reply(m message, status string, response any) message {
	return message{
		JoinRef: m.JoinRef,
		Ref:     m.Ref,
		Topic:   m.Topic,
		Event:   "phx_reply",
		Payload: mustJSON(map[string]any{"status": status, "response": response}),
	}
}
