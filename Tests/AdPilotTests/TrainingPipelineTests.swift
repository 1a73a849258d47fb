// Tests of the training pipeline's pure choices: the automatic batch size.

import Testing

@testable import AdPilot

@Test(arguments: [
  (1_000_000, 1024), (102_400, 1024), (102_399, 512), (51_200, 512), (26_773, 256),
  (8_064, 256), (394, 256), (0, 256),
])
func automaticBatchSizeGivesEnoughSteps(rows: Int, expected: Int) {
  #expect(TrainingPipeline.automaticBatchSize(trainingRows: rows) == expected)
}
