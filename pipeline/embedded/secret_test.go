package embedded_test

import "github.com/bsodwatch/bsodwatch/secret"

var secretToken = secret.New("s3cret-token")
