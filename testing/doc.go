// Package sessiontest holds what tests of a GORM application using
// gormsession need: helpers that run against real database servers, leak
// assertions, and fault injection.
//
// [FaultProxy] is a real TCP proxy placed between the application and its
// database server. Point the DSN at [FaultProxy.Addr] and switch faults on and
// off while traffic flows: refused dials ([FaultProxy.SetRefuse]), reset
// connections ([FaultProxy.ResetAll]), added latency
// ([FaultProxy.SetLatency]) and a silent network partition
// ([FaultProxy.SetBlackhole]). The driver sees genuine network errors, not
// faked ones, so the test exercises the same code paths as production.
//
//	proxy, err := sessiontest.NewFaultProxy("127.0.0.1:5432")
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(func() { proxy.Close() })
//	db, err := gorm.Open(postgres.Open("postgres://app@"+proxy.Addr()+"/app"), &gorm.Config{})
//	// ...
//	proxy.ResetAll() // every open connection now gets a TCP RST
//
// This package is for tests only; the gormsession library never imports it.
package sessiontest
