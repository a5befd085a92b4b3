// Command peer is grpc-gateway, the standard REST-to-gRPC translator, generated from
// fitmesh's protos with generate_unbound_methods (every RPC becomes
// POST /<package>.<Service>/<Method> with a JSON body). The benchmark points it at the same
// service replicas as fitmesh's gateway to compare the two on the same read.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	activityv1 "fitmesh.dev/bench/peer/gen/fitmesh/activity/v1"
	userv1 "fitmesh.dev/bench/peer/gen/fitmesh/user/v1"
)

// dial balances round-robin over a fixed list of replica addresses, as fitmesh's gateway does.
func dial(scheme, addrs string) (*grpc.ClientConn, error) {
	r := manual.NewBuilderWithScheme(scheme)
	var state resolver.State
	for _, a := range strings.Split(addrs, ",") {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: strings.TrimSpace(a)})
	}
	r.InitialState(state)
	return grpc.NewClient(scheme+":///replicas",
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
	)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen address")
	activity := flag.String("activity", "127.0.0.1:50052", "activity service replicas, comma-separated")
	users := flag.String("user", "127.0.0.1:50051", "user service replicas, comma-separated")
	flag.Parse()

	ctx := context.Background()
	mux := runtime.NewServeMux()
	activityConn, err := dial("activity", *activity)
	if err != nil {
		log.Fatal(err)
	}
	userConn, err := dial("user", *users)
	if err != nil {
		log.Fatal(err)
	}
	if err := activityv1.RegisterActivityServiceHandler(ctx, mux, activityConn); err != nil {
		log.Fatal(err)
	}
	if err := userv1.RegisterUserServiceHandler(ctx, mux, userConn); err != nil {
		log.Fatal(err)
	}
	log.Printf("grpc-gateway peer on http://%s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
