// A fully connected layer and a stack of them (MLP), over weights in a model's flat array.
// Forward and backward are hand-written; neither allocates per row, only per call.

/// A fully connected layer `y = x W + b` whose weights live at offsets of a flat parameter array.
struct DenseLayer: Sendable, Equatable {
  var inputs: Int
  var outputs: Int
  /// The offset of `W [inputs x outputs]`, row-major.
  var weightOffset: Int
  /// The offset of `b [outputs]`, right after `W`.
  var biasOffset: Int { weightOffset + inputs * outputs }
  var parameterCount: Int { inputs * outputs + outputs }

  /// Creates a layer placed at `offset` and advances `offset` past it.
  init(inputs: Int, outputs: Int, offset: inout Int) {
    self.inputs = inputs
    self.outputs = outputs
    weightOffset = offset
    offset += inputs * outputs + outputs
  }

  /// Fills `W` with Glorot-uniform values (Glorot and Bengio, 2010) and `b` with zeros.
  func initialize(_ parameters: inout [Float], random: inout SplitMix64) {
    let limit = (6 / Float(inputs + outputs)).squareRoot()
    for index in weightOffset..<biasOffset {
      parameters[index] = random.nextFloat(in: -limit..<limit)
    }
    for index in biasOffset..<(biasOffset + outputs) {
      parameters[index] = 0
    }
  }

  // Forward. x [rows x inputs], W [inputs x outputs], b [outputs] -> y [rows x outputs].
  // y = x W + b (the product first, then the bias is added), then max(0, y) when `relu`.
  func forward(
    _ parameters: UnsafePointer<Float>, input: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, rows: Int, relu: Bool
  ) {
    Kernels.multiply(
      input, parameters + weightOffset, output, m: rows, k: inputs, n: outputs,
      bias: parameters + biasOffset, rectify: relu)
  }

  // Backward. dy [rows x outputs] (already through the ReLU mask), x [rows x inputs].
  // dW [inputs x outputs] += x^T dy, db [outputs] += column sums of dy,
  // dx [rows x inputs] = dy W^T (overwritten) when `inputGradient` is not nil, then set to 0
  // where `inputMask [rows x inputs]` is not positive when it is given (the backward pass of the
  // ReLU that produced x, with x as the mask).
  func backward(
    _ parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>,
    input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
    inputGradient: UnsafeMutablePointer<Float>?, rows: Int, inputMask: UnsafePointer<Float>? = nil
  ) {
    Kernels.multiplyAccumulateTransposed(
      input, outputGradient, gradients + weightOffset, rows: rows, m: inputs, n: outputs)
    Kernels.addColumnSums(outputGradient, gradients + biasOffset, rows: rows, columns: outputs)
    guard let inputGradient else { return }
    var transposed = [Float](repeating: 0, count: inputs * outputs)
    transposed.withUnsafeMutableBufferPointer { scratch in
      guard let scratch = scratch.baseAddress else { return }
      Kernels.transpose(parameters + weightOffset, scratch, rows: inputs, columns: outputs)
      Kernels.multiply(
        outputGradient, scratch, inputGradient, m: rows, k: outputs, n: inputs, mask: inputMask)
    }
  }
}

/// Layers with ReLU or Dice between them and a linear last layer.
struct MLP: Sendable, Equatable {
  var layers: [DenseLayer]
  /// One Dice activation per hidden layer, or none for ReLU.
  var dice: [DiceActivation] = []

  /// Wraps existing layers.
  init(layers: [DenseLayer]) {
    self.layers = layers
  }

  /// Creates layers of widths `inputs -> hidden... -> outputs` placed from `offset` on. With
  /// Dice, every hidden unit's alpha follows the last layer, hidden layer after hidden layer.
  init(
    inputs: Int, hidden: [Int], outputs: Int, offset: inout Int, activation: MLPActivation = .relu
  ) {
    var layers: [DenseLayer] = []
    var width = inputs
    for next in hidden + [outputs] {
      layers.append(DenseLayer(inputs: width, outputs: next, offset: &offset))
      width = next
    }
    self.layers = layers
    guard activation == .dice else { return }
    var statisticsOffset = 0
    for width in hidden {
      dice.append(
        DiceActivation(width: width, alphaOffset: offset, statisticsOffset: statisticsOffset))
      offset += width
      statisticsOffset += width
    }
  }

  /// The activation of the hidden layers.
  var activation: MLPActivation { dice.isEmpty ? .relu : .dice }
  /// The number of Dice units, the length of each ``DiceStatistics`` array.
  var diceUnits: Int { dice.reduce(0) { $0 + $1.width } }

  var inputs: Int { layers[0].inputs }
  var outputs: Int { layers[layers.count - 1].outputs }

  // Forward. x [rows x inputs] -> one activation per layer, [rows x layer.outputs] each;
  // hidden layers are ReLU, the last is linear. A Dice MLP takes the other `forward`.
  func forward(_ parameters: [Float], input: [Float], rows: Int) -> [[Float]] {
    precondition(dice.isEmpty, "MLP.forward: a Dice MLP needs forward(_:input:rows:normalization:)")
    var activations: [[Float]] = []
    activations.reserveCapacity(layers.count)
    parameters.withUnsafeBufferPointer { parameters in
      guard let parameters = parameters.baseAddress else { return }
      for (index, layer) in layers.enumerated() {
        var output = Kernels.uninitializedBuffer(count: rows * layer.outputs)
        let source = index == 0 ? input : activations[index - 1]
        source.withUnsafeBufferPointer { source in
          output.withUnsafeMutableBufferPointer { output in
            guard let source = source.baseAddress, let output = output.baseAddress else { return }
            layer.forward(
              parameters, input: source, output: output, rows: rows,
              relu: index < layers.count - 1)
          }
        }
        activations.append(output)
      }
    }
    return activations
  }

  // Backward. dy [rows x outputs] of the last layer; adds weight gradients to `gradients` and
  // returns dx [rows x inputs] when `needInputGradient`, else an empty array.
  // Through each hidden ReLU: d(pre-activation) = d(activation) where activation > 0, else 0,
  // applied as each layer computes its dx. With `inputIsRectified`, the input is itself a ReLU
  // output and the returned dx goes through that ReLU the same way.
  func backward(
    _ parameters: [Float], gradients: inout [Float], input: [Float], activations: [[Float]],
    outputGradient: [Float], rows: Int, needInputGradient: Bool, inputIsRectified: Bool = false
  ) -> [Float] {
    precondition(dice.isEmpty, "MLP.backward: a Dice MLP needs the backward that takes its caches")
    var upstream = outputGradient
    var result: [Float] = []
    parameters.withUnsafeBufferPointer { parameters in
      gradients.withUnsafeMutableBufferPointer { gradients in
        guard let parameters = parameters.baseAddress, let gradients = gradients.baseAddress
        else { return }
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
          let layer = layers[index]
          let wantInput = index > 0 || needInputGradient
          let masked = index > 0 || inputIsRectified
          // layer.backward overwrites every element of dx.
          var downstream = Kernels.uninitializedBuffer(count: wantInput ? rows * layer.inputs : 0)
          let source = index == 0 ? input : activations[index - 1]
          source.withUnsafeBufferPointer { source in
            upstream.withUnsafeBufferPointer { upstream in
              downstream.withUnsafeMutableBufferPointer { downstream in
                guard let source = source.baseAddress, let upstream = upstream.baseAddress
                else { return }
                layer.backward(
                  parameters, gradients: gradients, input: source, outputGradient: upstream,
                  inputGradient: wantInput ? downstream.baseAddress : nil, rows: rows,
                  inputMask: masked ? source : nil)
              }
            }
          }
          upstream = downstream
        }
        result = upstream
      }
    }
    return needInputGradient ? result : []
  }
}
