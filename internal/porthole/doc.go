// Package porthole is the domain of Porthole: the types every other package
// speaks in, the application error type with its codes, and the interfaces
// services are reached through.
//
// It imports only the standard library. It must never import a driver, a
// transport or any other package of this module: everything else depends on
// it, never the other way round.
package porthole
