package pubsub

import "context"

// Memory is the in-process PubSub: enough for one Porthole process.
type Memory struct {
	hub *hub
}

// NewMemory returns an in-process PubSub.
func NewMemory() *Memory { return &Memory{hub: newHub()} }

// Publish delivers msg to the topic's subscribers in this process.
func (m *Memory) Publish(_ context.Context, topic string, msg []byte) error {
	m.hub.publish(topic, msg)
	return nil
}

// Subscribe subscribes to topic in this process.
func (m *Memory) Subscribe(ctx context.Context, topic string) (*Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, _ := m.hub.add(topic)
	return s, nil
}

// Close ends every subscription.
func (m *Memory) Close() error {
	m.hub.closeAll()
	return nil
}
