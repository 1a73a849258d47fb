import Testing

@testable import Postgres

@Test func moduleLoads() {
  #expect(Bool(true))
}
