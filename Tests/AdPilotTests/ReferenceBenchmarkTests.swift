// Tests of the reference configuration that `adpilot bench train` and `bench score` measure.

import CTR
import Testing

@testable import AdPilot

@Test func referenceStepCountsItsDenseProducts() throws {
  // Per sample, forward: the MLP 288 x 200 + 200 x 80 + 80 x 1 = 73,680; the activation unit's
  // folding 2 x 32 x 80 = 5,120; 50 keys of 32 x 80 + 80 x 40 + 40 x 1 = 5,800 each, 290,000.
  // A training step is three times the forward's 368,800.
  #expect(try ReferenceBenchmark.trainingMultiplyAddsPerSample() == 1_106_400)
}

@Test func referenceSpecHasTheDocumentedFields() {
  let spec = ReferenceBenchmark.spec()
  #expect(spec.categorical.count == 16)
  #expect(spec.categorical.filter { $0.role == .user }.count == 8)
  #expect(spec.categorical.filter { $0.role == .ad }.count == 5)
  #expect(spec.categorical.filter { $0.role == .context }.count == 3)
  #expect(spec.embeddingDimension == 16)
  #expect(spec.maxSequenceLength == 50)
  #expect(spec.sequence.map(\.sharesEmbeddingWith) == ["ad_category", "ad_brand"])
}
