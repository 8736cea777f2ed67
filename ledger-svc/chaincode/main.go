// Command votes-chaincode is the "votes" chaincode of the citizen-participation platform.
//
// It runs as a chaincode server (Fabric "chaincode as a service"): the peer dials it at
// CHAINCODE_SERVER_ADDRESS, and CORE_CHAINCODE_ID_NAME names the installed package it serves.
// Without those variables fabric-contract-api-go falls back to dialling a peer (classic mode).
package main

import (
	"log"

	"github.com/civic/votes-chaincode/votes"
)

func main() {
	cc, err := votes.NewChaincode()
	if err != nil {
		log.Fatalf("votes chaincode: %v", err)
	}
	if err := cc.Start(); err != nil {
		log.Fatalf("votes chaincode: %v", err)
	}
}
