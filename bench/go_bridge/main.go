// Command go_bridge is the benchmark's plain Go contestant (issue 21, item 3): Up's webhook
// straight to Kafka, with no store of its own. Not part of upbus.
//
// It reads the body, checks X-Up-Authenticity-Signature (the lowercase hex HMAC-SHA256 of the
// raw body, compared in constant time against each secret of UP_WEBHOOK_SECRETS), reads the
// event id, produces the body to KAFKA_TOPIC with franz-go (acks from all in-sync replicas,
// idempotent) and answers 200 only once the broker acknowledged the record; 401 on a bad
// signature, 400 on a body without an event id, 503 when the produce failed. Nothing is
// fsynced: once acknowledged, the record is as durable as the broker makes it.
//
// Environment: PORT (default 8091), HOST (default 127.0.0.1), UP_WEBHOOK_SECRETS (comma
// separated, required), KAFKA_BROKERS (comma separated, required), KAFKA_TOPIC (default
// up.webhook-events; created with 3 partitions when missing), KAFKA_LINGER (how long a batch
// waits for more records, a Go duration; default 0s: sent at once, or as soon as the request
// before it on that connection was answered).
//
// Build and run: cd bench/go_bridge && go build -o bin/go_bridge . && bin/go_bridge
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const signatureHeader = "X-Up-Authenticity-Signature"

// maxBody is the largest body read, as upbus's MAX_BODY_BYTES default.
const maxBody = 1 << 20

// event is the part of Up's webhook body the bridge reads.
type event struct {
	Data struct {
		ID            string `json:"id"`
		Relationships struct {
			Transaction struct {
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			} `json:"transaction"`
		} `json:"relationships"`
	} `json:"data"`
}

// bridge holds the secrets and the one producer of the process.
type bridge struct {
	secrets [][]byte
	client  *kgo.Client
	topic   string
}

// signed reports whether header is the lowercase hex HMAC-SHA256 of body under one secret.
func (b *bridge) signed(body []byte, header string) bool {
	if len(header) != sha256.Size*2 || strings.ToLower(header) != header {
		return false
	}
	given, err := hex.DecodeString(header)
	if err != nil {
		return false
	}
	for _, secret := range b.secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), given) {
			return true
		}
	}
	return false
}

func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (b *bridge) webhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		answer(w, http.StatusMethodNotAllowed, `{"error":"method"}`)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		answer(w, http.StatusRequestEntityTooLarge, `{"error":"body"}`)
		return
	}
	if !b.signed(body, r.Header.Get(signatureHeader)) {
		answer(w, http.StatusUnauthorized, `{"error":"signature"}`)
		return
	}
	var parsed event
	if err := json.Unmarshal(body, &parsed); err != nil || parsed.Data.ID == "" {
		answer(w, http.StatusBadRequest, `{"error":"event"}`)
		return
	}
	key := parsed.Data.Relationships.Transaction.Data.ID
	if key == "" {
		key = parsed.Data.ID
	}
	record := &kgo.Record{
		Topic:   b.topic,
		Key:     []byte(key),
		Value:   body,
		Headers: []kgo.RecordHeader{{Key: "ce_id", Value: []byte(parsed.Data.ID)}},
	}
	if err := b.client.ProduceSync(r.Context(), record).FirstErr(); err != nil {
		log.Printf("produce %s: %v", parsed.Data.ID, err)
		answer(w, http.StatusServiceUnavailable, `{"error":"kafka"}`)
		return
	}
	answer(w, http.StatusOK, `{"status":"ok"}`)
}

// ensureTopic creates topic with 3 partitions when it does not exist (the broker of the bench
// does not create topics on first use).
func ensureTopic(ctx context.Context, client *kgo.Client, topic string) error {
	admin := kadm.NewClient(client)
	topics, err := admin.ListTopics(ctx, topic)
	if err != nil {
		return err
	}
	if topics.Has(topic) && topics[topic].Err == nil {
		return nil
	}
	created, err := admin.CreateTopic(ctx, 3, -1, nil, topic)
	if err != nil {
		return err
	}
	if created.Err != nil && !strings.Contains(created.Err.Error(), "TOPIC_ALREADY_EXISTS") {
		return created.Err
	}
	return nil
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func split(list string) []string {
	var out []string
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("go_bridge: ")
	secrets := split(os.Getenv("UP_WEBHOOK_SECRETS"))
	brokers := split(os.Getenv("KAFKA_BROKERS"))
	if len(secrets) == 0 || len(brokers) == 0 {
		log.Fatal("Cannot start: UP_WEBHOOK_SECRETS and KAFKA_BROKERS must be set (comma-separated)")
	}
	b := &bridge{topic: env("KAFKA_TOPIC", "up.webhook-events")}
	for _, secret := range secrets {
		b.secrets = append(b.secrets, []byte(secret))
	}
	linger, err := time.ParseDuration(env("KAFKA_LINGER", "0s"))
	if err != nil {
		log.Fatalf("Cannot read KAFKA_LINGER: %q is not a duration; expected e.g. 0s or 5ms", os.Getenv("KAFKA_LINGER"))
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent: franz-go's default with acks=all
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(linger),
	)
	if err != nil {
		log.Fatalf("Cannot create the Kafka client: %v", err)
	}
	defer client.Close()
	b.client = client
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	for {
		if err = ensureTopic(ctx, client, b.topic); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	cancel()
	if err != nil {
		log.Fatalf("Cannot create topic %s on %s: %v", b.topic, strings.Join(brokers, ","), err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/webhook", b.webhook)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, `{"status":"ok"}`)
	})
	address := net.JoinHostPort(env("HOST", "127.0.0.1"), env("PORT", "8091"))
	server := &http.Server{Addr: address, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		server.Shutdown(shutdown)
	}()
	fmt.Printf("go_bridge listening on %s, topic %s\n", address, b.topic)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("Cannot listen on %s: %v", address, err)
	}
}
