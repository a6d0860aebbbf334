// Command tokenrefresh is the token refresher Lambda (see internal/lambdafn/tokenrefresh).
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
	"github.com/centralmsp/centralmsp/internal/lambdafn/tokenrefresh"
)

func main() {
	envconf.LimitMemory(os.Getenv) // the heap stays inside the function's memory
	h, err := tokenrefresh.NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	lambda.StartHandlerFunc(h.Handle)
}
