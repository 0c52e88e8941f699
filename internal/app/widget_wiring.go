package app

// Widget wiring (issue 7), kept in this one file: the chat service, pubsub,
// the widget server and its assets. Owned by the widget server work; the
// lead may fold it into the App as the assembly settles.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/pubsub"
	"github.com/porthole-chat/porthole/internal/widget"
	"github.com/porthole-chat/porthole/internal/widget/assets"
)

// widgetTicketKeyFile holds the key that signs frame tickets. Every process
// behind one public URL needs the same key (copy the file).
const widgetTicketKeyFile = "widget-ticket.key"

// mountWidget builds the chat service and the widget server and mounts
// /widget/frame, /widget/ws and /widget/v1/ on mux.
func (a *App) mountWidget(mux *http.ServeMux) error {
	var bus pubsub.PubSub
	if a.Redis != nil {
		r := pubsub.NewRedis(a.Redis, "porthole:ps:", a.Logger)
		a.services = append(a.services, ServiceFunc(r.Run))
		bus = r
	} else {
		bus = pubsub.NewMemory()
	}
	// assistant (issue 4): the turn engine; see assistant_wiring.go.
	engine, _ := a.newAssistant(bus)
	chatSvc := chat.New(chat.Config{DB: a.DB, PubSub: bus, Vault: a.Vault, Logger: a.Logger, Engine: engine,
		Security: a.Security, Limiter: a.Limiter}) // issue 5: inbox security events, automated-traffic rate
	a.chat = chatSvc
	a.services = append(a.services, &chat.Retention{DB: a.DB, Logger: a.Logger}) // issue 5: retention worker
	connectHandoff(engine, chatSvc)
	// end assistant
	key, err := loadOrCreateTicketKey(filepath.Join(a.Config.DataDir, widgetTicketKeyFile))
	if err != nil {
		return err
	}
	srv, err := widget.New(widget.Deps{
		DB: a.DB, Limiter: a.Limiter, Security: a.Security, Chat: chatSvc,
		PublicURL: a.Config.PublicURL, TicketKey: key, Logger: a.Logger,
		Assets: widget.Assets{Static: assets.Static(), Frame: assets.FrameTemplate(), AssetBase: assets.AssetBase},
		Limits: widget.Limits{ConnectsPerIP: porthole.Limit{N: int64(a.Config.WidgetConnectsPerIP), Window: time.Minute}},
	})
	if err != nil {
		return err
	}
	srv.Routes(mux)
	// Sockets first (close 1001 with a reason), then the turns they started.
	a.OnShutdown(srv.Shutdown)
	a.OnShutdown(chatSvc.Shutdown)
	return nil
}

func loadOrCreateTicketKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) < widget.MinTicketKeyBytes {
			return nil, fmt.Errorf("widget ticket key %s is shorter than %d bytes", path, widget.MinTicketKeyBytes)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot read the widget ticket key %s: %v", path, err)
	}
	key = make([]byte, 32)
	_, _ = rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return loadOrCreateTicketKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot create the widget ticket key %s: %v", path, err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot write the widget ticket key %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("cannot write the widget ticket key %s: %v", path, err)
	}
	return key, nil
}
