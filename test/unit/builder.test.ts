/**
 * The pipeline-definition DSL at run time: every error the builder raises (code and message,
 * the Ruby engine's wording where it has one) and the graph each transition draws. No database.
 * Data-flow typing is proven at compile time in test/types/flow.types.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { Pipeline } from '../../src/client/pipeline.js';
import type { PipelineBuilder } from '../../src/definition/builder.js';
import { buildDefinition, type PipelineDefinition } from '../../src/definition/define.js';
import type { DefinitionGraph, Edge } from '../../src/definition/graph.js';
import { Step } from '../../src/definition/step.js';
import { DefinitionError, DuctworkError, type DuctworkErrorCode } from '../../src/errors.js';

class A extends Step {
  execute(value: unknown) {
    return value;
  }
}
class B extends Step {
  execute(value: unknown) {
    return value;
  }
}
class C extends Step {
  execute(value: unknown) {
    return value;
  }
}
class D extends Step {
  execute(value: unknown) {
    return value;
  }
}
class List extends Step {
  execute(): unknown[] {
    return [];
  }
}
class Key extends Step {
  execute(): string | number | boolean | null {
    return null;
  }
}

// Many draws below are invalid on purpose; they are typed loosely and the compile-time checks
// are bypassed with `as never`, so that the run-time validation is what gets exercised.
type Draw = (p: PipelineBuilder) => unknown;
const define = (draw: Draw, name = 'Named'): PipelineDefinition => buildDefinition(name, draw as never);

function rejects(draw: Draw, code: DuctworkErrorCode, message: string): void {
  assert.throws(
    () => define(draw),
    (error: unknown) => {
      assert.ok(error instanceof DefinitionError, `expected a DefinitionError, got ${String(error)}`);
      assert.ok(error instanceof DuctworkError);
      assert.equal(error.name, 'DefinitionError');
      assert.equal(error.code, code, error.message);
      assert.equal(error.message, `Pipeline Named: ${message}`);
      assert.equal(error.details.pipeline, 'Named');
      return true;
    },
  );
}

const invalidClass = (call: string, shown: string, plural = false) =>
  `${plural ? 'Arguments' : 'Argument'} must be a valid step class (in ${call}: got ${shown}; a step class extends Step and has an execute(input) method)`;

describe('errors: start', () => {
  test('starting twice', () => rejects((p) => p.start(A).chain(B).start(C), 'start_error', 'Can only start pipeline definition once'));

  const before: [string, string, Draw][] = [
    ['chain', 'chaining', (p) => p.chain(A)],
    ['divide', 'dividing chain', (p) => p.divide({ to: [A, B] })],
    ['combine', 'combining steps', (p) => p.combine({ into: A } as never)],
    ['expand', 'expanding chain', (p) => p.expand({ to: A } as never)],
    ['collapse', 'collapsing steps', (p) => p.collapse({ into: A } as never)],
    ['divert', 'diverting chain', (p) => p.divert({ to: { otherwise: A } } as never)],
    ['converge', 'converging steps', (p) => p.converge({ into: A } as never)],
  ];
  for (const [call, doing, draw] of before) {
    // Always start_error, whatever the call: the original raises StartError here too.
    test(`${call} before start`, () => rejects(draw, 'start_error', `Must start pipeline definition before ${doing}`));
  }

  test('a definition that never starts', () => rejects(() => undefined, 'start_error', 'Must start pipeline definition before completing'));
  test('a definition that only registers onHalt never starts either', () =>
    rejects((p) => p.onHalt(C), 'start_error', 'Must start pipeline definition before completing'));
  // The start check runs before the step class is looked at, so the message is about order.
  test('an invalid class before start reports the missing start', () =>
    rejects((p) => p.chain({} as never), 'start_error', 'Must start pipeline definition before chaining'));
});

describe('errors: fan-ins that close nothing or the wrong fan-out', () => {
  test('combine without a divide', () =>
    rejects((p) => p.start(A).combine({ into: B } as never), 'combine_error', 'Must divide pipeline definition before combining steps'));
  test('combine on top of an expand', () =>
    rejects((p) => p.start(List).expand({ to: A }).combine({ into: B } as never), 'combine_error', 'Ambiguous combine on most recently expanded definition'));
  test('combine on top of a divert', () =>
    rejects((p) => p.start(Key).divert({ to: { k: C, otherwise: D } }).combine({ into: B } as never), 'combine_error', 'Ambiguous combine on most recently diverted definition'));
  test('combine again after the only divide was combined', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }).combine({ into: D }).combine({ into: A } as never), 'combine_error', 'Must divide pipeline definition before combining steps'));

  test('collapse without an expand', () =>
    rejects((p) => p.start(A).collapse({ into: B } as never), 'collapse_error', 'Must expand pipeline definition before collapsing steps'));
  test('collapse on top of a divide', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }).collapse({ into: D } as never), 'collapse_error', 'Ambiguous collapse on most recently divided definition'));
  // The divide opened inside the expand is the innermost fan-out, so it must be combined first.
  test('collapse on top of a divide nested in an expand', () =>
    rejects(
      (p) => p.start(List).expand({ to: A }).divide({ to: [B, C] }).collapse({ into: D } as never),
      'collapse_error',
      'Ambiguous collapse on most recently divided definition',
    ));
  test('collapse on top of a divert', () =>
    rejects((p) => p.start(Key).divert({ to: { otherwise: D } }).collapse({ into: A } as never), 'collapse_error', 'Ambiguous collapse on most recently diverted definition'));

  test('converge without a divert', () =>
    rejects((p) => p.start(A).converge({ into: B } as never), 'converge_error', 'Must divert pipeline definition before converging steps'));
  test('converge on top of an expand', () =>
    rejects((p) => p.start(List).expand({ to: A }).converge({ into: B } as never), 'converge_error', 'Ambiguous converge on most recently divided/expanded definition'));
  test('converge on top of a divide', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }).converge({ into: D } as never), 'converge_error', 'Ambiguous converge on most recently divided/expanded definition'));
});

describe('errors: divide and divert arguments', () => {
  test('divert without otherwise', () =>
    rejects((p) => p.start(Key).divert({ to: { k: C, j: D } } as never), 'divert_error', 'Must specify an `otherwise` branch'));
  test('divert without otherwise inside a divide lane', () =>
    rejects(
      (p) => p.start(A).divide({ to: [B, Key] }, ([b, key]) => [b, key.divert({ to: { k: C } } as never)] as never),
      'divert_error',
      'divide lane 2: Must specify an `otherwise` branch',
    ));
  test('divert without otherwise inside a divert lane', () =>
    rejects(
      (p) => p.start(Key).divert({ to: { k: Key, otherwise: D } }, (lanes) => ({ k: lanes.k.divert({ to: { j: C } } as never), otherwise: lanes.otherwise }) as never),
      'divert_error',
      'divert lane 1: Must specify an `otherwise` branch',
    ));
  test('divert with an array instead of a route map', () =>
    rejects((p) => p.start(Key).divert({ to: [C, D] } as never), 'divert_error', 'divert needs `to`: an object mapping route keys to step classes'));
  test('divert without `to`', () =>
    rejects((p) => p.start(Key).divert({} as never), 'divert_error', 'divert needs `to`: an object mapping route keys to step classes'));

  test('divide with an empty list', () =>
    rejects((p) => p.start(A).divide({ to: [] }), 'divide_error', 'divide needs `to`: a non-empty array of step classes'));
  test('divide with a single class instead of a list', () =>
    rejects((p) => p.start(A).divide({ to: B } as never), 'divide_error', 'divide needs `to`: a non-empty array of step classes'));
});

describe('errors: step classes', () => {
  test('a plain object', () => rejects((p) => p.start({} as never), 'step_class_invalid', invalidClass('start', '{}')));
  test('a class without execute', () => rejects((p) => p.start(class NoExecute {} as never), 'step_class_invalid', invalidClass('start', 'NoExecute')));
  test('an execute that takes two parameters', () =>
    rejects(
      (p) =>
        p.start(
          class TwoParams {
            execute(_input: unknown, _extra: unknown) {
              return null;
            }
          } as never,
        ),
      'step_class_invalid',
      invalidClass('start', 'TwoParams'),
    ));
  // Step's execute is abstract: the base class itself has nothing to run.
  test('the Step base class itself', () => rejects((p) => p.start(Step as never), 'step_class_invalid', invalidClass('start', 'Step')));
  test('a non-class in a divide list (plural wording for a list)', () =>
    rejects((p) => p.start(A).divide({ to: [B, 'C' as never] }), 'step_class_invalid', invalidClass('divide', '"C"', true)));
  test('a one-class divide list keeps the singular wording', () =>
    rejects((p) => p.start(A).divide({ to: [42 as never] }), 'step_class_invalid', invalidClass('divide', '42')));
  test('a non-class in a divert map (plural wording)', () =>
    rejects((p) => p.start(Key).divert({ to: { k: C, otherwise: null } } as never), 'step_class_invalid', invalidClass('divert', 'null', true)));
  test('a missing class in chain', () => rejects((p) => p.start(A).chain({ to: undefined } as never), 'step_class_invalid', invalidClass('chain', 'undefined')));
  test('a plain function in expand', () =>
    rejects((p) => p.start(List).expand({ to: function notAStep() {} } as never), 'step_class_invalid', invalidClass('expand', 'notAStep')));
  test('an invalid class in each fan-in names its call', () => {
    rejects((p) => p.start(List).expand({ to: A }).collapse({ into: {} } as never), 'step_class_invalid', invalidClass('collapse', '{}'));
    rejects((p) => p.start(A).divide({ to: [B, C] }).combine({ into: {} } as never), 'step_class_invalid', invalidClass('combine', '{}'));
    rejects((p) => p.start(Key).divert({ to: { otherwise: C } }).converge({ into: {} } as never), 'step_class_invalid', invalidClass('converge', '{}'));
  });
  test('an invalid onHalt handler', () => rejects((p) => p.start(A).onHalt('Handler' as never), 'step_class_invalid', invalidClass('onHalt', '"Handler"')));
  // The original's nested lane builders skip validation; ours validate like the top level.
  test('an invalid class inside a lane block', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }, ([b, c]) => [b.chain({ to: {} } as never), c] as never), 'step_class_invalid', `divide lane 1: ${invalidClass('chain', '{}')}`));

  test('two different classes sharing a name in one pipeline', () => {
    // Same class name, different class: the runtime would find only one of them by name.
    const Shadow = class B extends Step {
      execute() {
        return 1;
      }
    };
    assert.throws(
      () => define((p) => p.start(A).chain(B).chain(Shadow)),
      (error: unknown) => {
        assert.ok(error instanceof DefinitionError);
        assert.equal(error.code, 'step_class_invalid');
        assert.equal(
          error.message,
          'Pipeline Named: two different step classes are both named "B". Steps are found by name at run time; give one of them a distinct `static stepName`.',
        );
        assert.deepEqual(error.details, { pipeline: 'Named', step: 'B' });
        return true;
      },
    );
  });
  test('a stepName that collides with another class, and an onHalt handler that does', () => {
    class Renamed extends Step {
      static override stepName = 'A';
      execute() {
        return 1;
      }
    }
    assert.throws(() => define((p) => p.start(A).chain(Renamed)), { code: 'step_class_invalid', message: /both named "A"/ });
    assert.throws(() => define((p) => p.start(Renamed).onHalt(A as never)), { code: 'step_class_invalid', message: /both named "A"/ });
  });
});

describe('errors: lane blocks', () => {
  test('a divide lane that leaves an expand open', () =>
    rejects(
      (p) => p.start(A).divide({ to: [List, B] }, ([list, b]) => [list.expand({ to: C }), b] as never),
      'divide_error',
      'divide lane 1 leaves a expand open; close it inside the block (collapse)',
    ));
  test('a divide lane that leaves a divide open', () =>
    rejects(
      (p) => p.start(A).divide({ to: [B, C] }, ([b, c]) => [b, c.divide({ to: [A, D] })] as never),
      'divide_error',
      'divide lane 2 leaves a divide open; close it inside the block (combine)',
    ));
  test('a divert lane that leaves a divert open', () =>
    rejects(
      (p) => p.start(Key).divert({ to: { k: Key, otherwise: D } }, (lanes) => ({ k: lanes.k.divert({ to: { otherwise: C } }), otherwise: lanes.otherwise }) as never),
      'divert_error',
      'divert lane 1 leaves a divert open; close it inside the block (converge)',
    ));

  test('a divide block returning too few lanes', () =>
    rejects(
      (p) => p.start(A).divide({ to: [B, C] }, ([b]) => [b] as never),
      'divide_error',
      'the divide block must return its lanes (an array of 2 builders), as received or continued',
    ));
  test('a divide block returning too many lanes', () =>
    rejects(
      (p) => p.start(A).divide({ to: [B, C] }, ([b, c]) => [b, c, b] as never),
      'divide_error',
      'the divide block must return its lanes (an array of 2 builders), as received or continued',
    ));
  test('a divide block returning something other than an array', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }, ([b]) => b as never), 'divide_error', 'the divide block must return its lanes (an array of 2 builders), as received or continued'));
  // Returning one lane twice would leave the other target without a way to the combine (so the
  // combine would never fire); swapping lanes would hand the combine its inputs in an order the
  // types did not describe. Both must be refused.
  test('a divide block returning one lane twice', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }, ([b]) => [b, b] as never), 'divide_error', 'the divide block must return its lanes (an array of 2 builders), as received or continued'));
  test('a divide block returning its lanes swapped', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }, ([b, c]) => [c, b] as never), 'divide_error', 'the divide block must return its lanes (an array of 2 builders), as received or continued'));
  test('a divide block returning a builder from another definition', () =>
    rejects(
      (p) => p.start(A).divide({ to: [B, C] }, ([b]) => [b, buildDefinitionBuilder()] as never),
      'divide_error',
      'the divide block must return its lanes (an array of 2 builders), as received or continued',
    ));
  test('a divert block missing a route key', () =>
    rejects(
      (p) => p.start(Key).divert({ to: { k: C, otherwise: D } }, (lanes) => ({ k: lanes.k }) as never),
      'divert_error',
      'the divert block must return its lanes (an object with a builder per route key), as received or continued',
    ));
  test('a divert block handing one route\'s lane to another key', () =>
    rejects(
      (p) => p.start(Key).divert({ to: { k: C, otherwise: D } }, (lanes) => ({ k: lanes.otherwise, otherwise: lanes.k }) as never),
      'divert_error',
      'the divert block must return its lanes (an object with a builder per route key), as received or continued',
    ));
  test('a divert block returning a non-object', () =>
    rejects(
      (p) => p.start(Key).divert({ to: { k: C, otherwise: D } }, () => 'lanes' as never),
      'divert_error',
      'the divert block must return its lanes (an object with a builder per route key), as received or continued',
    ));

  test('a lane that starts again', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }, ([b, c]) => [b.start(D), c] as never), 'start_error', 'divide lane 1: Can only start pipeline definition once'));
  // A lane is its own scope: the outer divide is not its to combine.
  test('a lane that combines the divide it belongs to', () =>
    rejects(
      (p) => p.start(A).divide({ to: [B, C] }, ([b, c]) => [b.combine({ into: D } as never), c] as never),
      'combine_error',
      'divide lane 1: Must divide pipeline definition before combining steps',
    ));
  test('nested lanes name the whole path to the error', () =>
    rejects(
      (p) => p.start(A).divide({ to: [B, C] }, ([b, c]) => [b, c.divide({ to: [D, A] }, ([d, a]) => [d, a.chain({ to: {} } as never)] as never).combine({ into: B })] as never),
      'step_class_invalid',
      `divide lane 2: divide lane 2: ${invalidClass('chain', '{}')}`,
    ));
});

/** A builder of some other definition, to hand back from a lane block. */
function buildDefinitionBuilder(): PipelineBuilder {
  let kept: PipelineBuilder | undefined;
  define((p) => (kept = p.start(D) as unknown as PipelineBuilder));
  return kept!;
}

describe('the graph each transition draws', () => {
  test('start: one node, no outgoing edge, empty metadata', () => {
    const { graph, steps } = define((p) => p.start(A));
    assert.deepEqual(graph, { version: 1, nodes: ['A.1'], edges: { 'A.1': { klass: 'A' } }, metadata: {} });
    assert.deepEqual([...steps], [['A', A]]);
  });

  test('chain, in both forms, links to one new node', () => {
    const { graph } = define((p) => p.start(A).chain(B).chain({ to: C }));
    assert.deepEqual(graph.nodes, ['A.1', 'B.1', 'C.1']);
    assert.deepEqual(graph.edges, {
      'A.1': { klass: 'A', type: 'chain', to: ['B.1'] },
      'B.1': { klass: 'B', type: 'chain', to: ['C.1'] },
      'C.1': { klass: 'C' },
    });
  });

  test('the same class twice gets .1 and .2; the count is per step name', () => {
    const { graph, steps } = define((p) => p.start(A).chain(B).chain(A).chain(B).chain(A));
    assert.deepEqual(graph.nodes, ['A.1', 'B.1', 'A.2', 'B.2', 'A.3']);
    assert.deepEqual(graph.edges['A.2'], { klass: 'A', type: 'chain', to: ['B.2'] });
    assert.deepEqual([...steps.keys()], ['A', 'B']);
  });

  test('static stepName names the nodes and the registry entry', () => {
    class Renamed extends Step {
      static override stepName = 'LegacyName';
      execute() {
        return 1;
      }
    }
    const { graph, steps } = define((p) => p.start(Renamed).chain(Renamed));
    assert.deepEqual(graph.nodes, ['LegacyName.1', 'LegacyName.2']);
    assert.deepEqual(graph.edges['LegacyName.1'], { klass: 'LegacyName', type: 'chain', to: ['LegacyName.2'] });
    assert.equal(steps.get('LegacyName'), Renamed);
  });

  test('divide links to every target, in order, and an open divide may end the pipeline', () => {
    const { graph } = define((p) => p.start(A).divide({ to: [B, C, B] }));
    assert.deepEqual(graph.nodes, ['A.1', 'B.1', 'C.1', 'B.2']);
    assert.deepEqual(graph.edges, {
      'A.1': { klass: 'A', type: 'divide', to: ['B.1', 'C.1', 'B.2'] },
      'B.1': { klass: 'B' },
      'C.1': { klass: 'C' },
      'B.2': { klass: 'B' },
    });
  });

  test('combine links every lane to one node', () => {
    const { graph } = define((p) => p.start(A).divide({ to: [B, C] }).combine({ into: D }));
    assert.deepEqual(graph.edges, {
      'A.1': { klass: 'A', type: 'divide', to: ['B.1', 'C.1'] },
      'B.1': { klass: 'B', type: 'combine', to: ['D.1'] },
      'C.1': { klass: 'C', type: 'combine', to: ['D.1'] },
      'D.1': { klass: 'D' },
    });
  });

  test('chain after a divide points every lane at one node; the combine then links from it', () => {
    const { graph } = define((p) => p.start(A).divide({ to: [B, C] }).chain(D).combine({ into: A }));
    assert.deepEqual(graph.edges['B.1'], { klass: 'B', type: 'chain', to: ['D.1'] });
    assert.deepEqual(graph.edges['C.1'], { klass: 'C', type: 'chain', to: ['D.1'] });
    assert.deepEqual(graph.edges['D.1'], { klass: 'D', type: 'combine', to: ['A.2'] });
    assert.deepEqual(graph.edges['A.2'], { klass: 'A' });
  });

  test('expand links to one node; collapse links to its target and stamps collapse_into on the expand edge', () => {
    const { graph } = define((p) => p.start(List).expand({ to: A }).chain(B).collapse({ into: C }));
    assert.deepEqual(graph.edges, {
      'List.1': { klass: 'List', type: 'expand', to: ['A.1'], collapse_into: 'C.1' },
      'A.1': { klass: 'A', type: 'chain', to: ['B.1'] },
      'B.1': { klass: 'B', type: 'collapse', to: ['C.1'] },
      'C.1': { klass: 'C' },
    });
  });

  test('an open expand leaves no collapse_into', () => {
    const { graph } = define((p) => p.start(List).expand({ to: A }));
    assert.deepEqual(graph.edges, { 'List.1': { klass: 'List', type: 'expand', to: ['A.1'] }, 'A.1': { klass: 'A' } });
  });

  test('nested expands: each collapse closes, and stamps, its own expand', () => {
    const { graph } = define((p) => p.start(List).expand({ to: List }).expand({ to: A }).collapse({ into: C }).collapse({ into: D }));
    assert.deepEqual(graph.edges, {
      'List.1': { klass: 'List', type: 'expand', to: ['List.2'], collapse_into: 'D.1' },
      'List.2': { klass: 'List', type: 'expand', to: ['A.1'], collapse_into: 'C.1' },
      'A.1': { klass: 'A', type: 'collapse', to: ['C.1'] },
      'C.1': { klass: 'C', type: 'collapse', to: ['D.1'] },
      'D.1': { klass: 'D' },
    });
  });

  test('an expand from every lane of a divide stamps each source', () => {
    const { graph } = define((p) => p.start(A).divide({ to: [List, List] }).expand({ to: B }).collapse({ into: C }).combine({ into: D }));
    assert.deepEqual(graph.edges['List.1'], { klass: 'List', type: 'expand', to: ['B.1'], collapse_into: 'C.1' });
    assert.deepEqual(graph.edges['List.2'], { klass: 'List', type: 'expand', to: ['B.1'], collapse_into: 'C.1' });
    assert.deepEqual(graph.edges['B.1'], { klass: 'B', type: 'collapse', to: ['C.1'] });
    assert.deepEqual(graph.edges['C.1'], { klass: 'C', type: 'combine', to: ['D.1'] });
  });

  test('a divide inside an expand is combined before the expand is collapsed', () => {
    const { graph } = define((p) => p.start(List).expand({ to: A }).divide({ to: [B, C] }).combine({ into: D }).collapse({ into: A }));
    assert.deepEqual(graph.edges['List.1'], { klass: 'List', type: 'expand', to: ['A.1'], collapse_into: 'A.2' });
    assert.deepEqual(graph.edges['A.1'], { klass: 'A', type: 'divide', to: ['B.1', 'C.1'] });
    assert.deepEqual(graph.edges['C.1'], { klass: 'C', type: 'combine', to: ['D.1'] });
    assert.deepEqual(graph.edges['D.1'], { klass: 'D', type: 'collapse', to: ['A.2'] });
  });

  test('divert maps each route key to its node; converge joins every route', () => {
    const { graph } = define((p) => p.start(Key).divert({ to: { k: C, otherwise: D } }).converge({ into: A }));
    assert.deepEqual(graph.edges, {
      'Key.1': { klass: 'Key', type: 'divert', to: { k: 'C.1', otherwise: 'D.1' } },
      'C.1': { klass: 'C', type: 'converge', to: ['A.1'] },
      'D.1': { klass: 'D', type: 'converge', to: ['A.1'] },
      'A.1': { klass: 'A' },
    });
  });

  test('divert keys are stored as strings (numbers and booleans route by their string form)', () => {
    const { graph } = define((p) => p.start(Key).divert({ to: { 1: B, true: C, otherwise: D } }));
    assert.deepEqual(graph.edges['Key.1'], { klass: 'Key', type: 'divert', to: { '1': 'B.1', true: 'C.1', otherwise: 'D.1' } });
  });

  test('block divide: the fan-in links from the lanes\' last nodes', () => {
    const { graph } = define((p) =>
      p
        .start(A)
        .divide({ to: [B, C] }, ([b, c]) => [b.chain(D).chain(A), c])
        .combine({ into: D }),
    );
    assert.deepEqual(graph.nodes, ['A.1', 'B.1', 'C.1', 'D.1', 'A.2', 'D.2']);
    assert.deepEqual(graph.edges, {
      'A.1': { klass: 'A', type: 'divide', to: ['B.1', 'C.1'] },
      'B.1': { klass: 'B', type: 'chain', to: ['D.1'] },
      'C.1': { klass: 'C', type: 'combine', to: ['D.2'] },
      'D.1': { klass: 'D', type: 'chain', to: ['A.2'] },
      'A.2': { klass: 'A', type: 'combine', to: ['D.2'] },
      'D.2': { klass: 'D' },
    });
  });

  test('block divide with fan-outs opened and closed inside a lane', () => {
    const { graph } = define((p) =>
      p
        .start(A)
        .divide({ to: [List, B] }, ([list, b]) => [list.expand({ to: C }).collapse({ into: D }), b.divide({ to: [A, C] }).combine({ into: D })])
        .combine({ into: B }),
    );
    assert.deepEqual(graph.edges['List.1'], { klass: 'List', type: 'expand', to: ['C.1'], collapse_into: 'D.1' });
    assert.deepEqual(graph.edges['D.1'], { klass: 'D', type: 'combine', to: ['B.2'] });
    assert.deepEqual(graph.edges['B.1'], { klass: 'B', type: 'divide', to: ['A.2', 'C.2'] });
    assert.deepEqual(graph.edges['A.2'], { klass: 'A', type: 'combine', to: ['D.2'] });
    assert.deepEqual(graph.edges['D.2'], { klass: 'D', type: 'combine', to: ['B.2'] });
  });

  test('a block that returns nothing keeps the lanes as received', () => {
    const fluent = define((p) => p.start(A).divide({ to: [B, C] }).combine({ into: D }));
    const block = define((p) => p.start(A).divide({ to: [B, C] }, () => undefined as never).combine({ into: D } as never));
    assert.deepEqual(block.graph, fluent.graph);
  });

  test('block divert: converge links from each route\'s last node', () => {
    const { graph } = define((p) =>
      p
        .start(Key)
        .divert({ to: { k: C, otherwise: D } }, (lanes) => ({ k: lanes.k.chain(A).chain(B), otherwise: lanes.otherwise }))
        .converge({ into: B }),
    );
    assert.deepEqual(graph.edges, {
      'Key.1': { klass: 'Key', type: 'divert', to: { k: 'C.1', otherwise: 'D.1' } },
      'C.1': { klass: 'C', type: 'chain', to: ['A.1'] },
      'D.1': { klass: 'D', type: 'converge', to: ['B.2'] },
      'A.1': { klass: 'A', type: 'chain', to: ['B.1'] },
      'B.1': { klass: 'B', type: 'converge', to: ['B.2'] },
      'B.2': { klass: 'B' },
    });
  });

  test('a divert block may return its routes in any key order', () => {
    const { graph } = define((p) =>
      p
        .start(Key)
        .divert({ to: { k: C, otherwise: D } }, (lanes) => ({ otherwise: lanes.otherwise.chain(A), k: lanes.k }))
        .converge({ into: B }),
    );
    assert.deepEqual(graph.edges['A.1'], { klass: 'A', type: 'converge', to: ['B.1'] });
    assert.deepEqual(graph.edges['C.1'], { klass: 'C', type: 'converge', to: ['B.1'] });
  });

  test('onHalt goes in the metadata and the registry, not in the nodes, and may come first', () => {
    const { graph, steps } = define((p) => p.onHalt(C).start(A).chain(B));
    assert.deepEqual(graph.metadata, { on_halt: { klass: 'C' } });
    assert.deepEqual(graph.nodes, ['A.1', 'B.1']);
    assert.equal(steps.get('C'), C);
  });

  test('the overview pipeline, end to end', () => {
    class Fetch extends Step {
      execute(value: unknown) {
        return value;
      }
    }
    const { graph } = define((p) =>
      p
        .start(List)
        .expand({ to: A })
        .divide({ to: [Fetch, Fetch] })
        .combine({ into: B })
        .chain({ to: Key })
        .divert({ to: { success: C, otherwise: D } })
        .converge({ into: A })
        .collapse({ into: B }),
    );
    assert.deepEqual(graph.nodes, ['List.1', 'A.1', 'Fetch.1', 'Fetch.2', 'B.1', 'Key.1', 'C.1', 'D.1', 'A.2', 'B.2']);
    assert.deepEqual(graph.edges, {
      'List.1': { klass: 'List', type: 'expand', to: ['A.1'], collapse_into: 'B.2' },
      'A.1': { klass: 'A', type: 'divide', to: ['Fetch.1', 'Fetch.2'] },
      'Fetch.1': { klass: 'Fetch', type: 'combine', to: ['B.1'] },
      'Fetch.2': { klass: 'Fetch', type: 'combine', to: ['B.1'] },
      'B.1': { klass: 'B', type: 'chain', to: ['Key.1'] },
      'Key.1': { klass: 'Key', type: 'divert', to: { success: 'C.1', otherwise: 'D.1' } },
      'C.1': { klass: 'C', type: 'converge', to: ['A.2'] },
      'D.1': { klass: 'D', type: 'converge', to: ['A.2'] },
      'A.2': { klass: 'A', type: 'collapse', to: ['B.2'] },
      'B.2': { klass: 'B' },
    });
  });

  test('a draw function that returns nothing still yields what it drew', () => {
    const { graph } = define((p) => {
      p.start(A).chain(B);
    });
    assert.deepEqual(graph.nodes, ['A.1', 'B.1']);
  });
});

describe('the definition', () => {
  test('the definition and its graph are frozen all the way down', () => {
    const definition = define((p) => p.start(Key).divert({ to: { k: C, otherwise: D } }).converge({ into: A }).onHalt(B));
    const graph: DefinitionGraph = definition.graph;
    assert.ok(Object.isFrozen(definition));
    for (const part of [graph, graph.nodes, graph.edges, graph.metadata, graph.metadata.on_halt, ...Object.values(graph.edges)]) {
      assert.ok(Object.isFrozen(part), JSON.stringify(part));
    }
    assert.ok(Object.isFrozen((graph.edges['Key.1'] as { to: object }).to));
    assert.ok(Object.isFrozen((graph.edges['C.1'] as { to: object }).to));
    // ES modules are strict, so writes to frozen objects throw rather than being ignored.
    assert.throws(() => graph.nodes.push('X.1'), TypeError);
    assert.throws(() => {
      (graph.edges as Record<string, Edge>)['X.1'] = { klass: 'X' };
    }, TypeError);
    assert.throws(() => {
      (definition as { sha1: string }).sha1 = '0';
    }, TypeError);
  });

  test('later calls on a kept builder do not change a finished definition', () => {
    let kept: PipelineBuilder | undefined;
    const definition = define((p) => (kept = p.start(A) as unknown as PipelineBuilder));
    kept!.chain(B);
    assert.deepEqual(definition.graph.edges, { 'A.1': { klass: 'A' } });
  });

  test('sha1 is the SHA-1 of the graph\'s JSON: stable for identical definitions, different otherwise', () => {
    const draw: Draw = (p) => p.start(List).expand({ to: A }).collapse({ into: B });
    const one = define(draw);
    assert.equal(one.sha1, createHash('sha1').update(JSON.stringify(one.graph)).digest('hex'));
    assert.match(one.sha1, /^[0-9a-f]{40}$/);
    assert.equal(define(draw).sha1, one.sha1);
    // Runs store the graph alone, and the advancer caches graphs by sha1, so the pipeline name is not part of it.
    assert.equal(define(draw, 'Other').sha1, one.sha1);
    assert.notEqual(define((p) => p.start(List).expand({ to: A }).collapse({ into: C })).sha1, one.sha1);
    assert.notEqual(define((p) => p.start(List).expand({ to: A }).chain(A).collapse({ into: B })).sha1, one.sha1);
    assert.notEqual(define((p) => p.start(List).expand({ to: A }).collapse({ into: B }).onHalt(C)).sha1, one.sha1);
  });
});

describe('Pipeline.define', () => {
  test('without a pipeline class, errors name where the pipeline was defined', () => {
    assert.throws(
      () => Pipeline.define((p) => p.start(A).combine({ into: B } as never) as never),
      (error: unknown) => {
        assert.ok(error instanceof DefinitionError);
        assert.equal(error.code, 'combine_error');
        assert.match(error.message, /^Pipeline \(defined at .*builder\.test\.[jt]s:\d+:\d+\)?\): Must divide pipeline definition before combining steps$/);
        assert.match(String(error.details.pipeline), /builder\.test\.[jt]s:\d+:\d+/);
        return true;
      },
    );
  });

  test('this.define inside a class body names the pipeline, by pipelineName when set', () => {
    assert.throws(
      () =>
        class Broken extends Pipeline {
          static override definition = this.define((p) => p.start(A).collapse({ into: B } as never) as never);
        },
      { code: 'collapse_error', message: 'Pipeline Broken: Must expand pipeline definition before collapsing steps' },
    );
    assert.throws(
      () =>
        class Renamed extends Pipeline {
          static override pipelineName = 'billing.v2';
          static override definition = this.define((p) => p.start(A).start(B) as never);
        },
      { code: 'start_error', message: 'Pipeline billing.v2: Can only start pipeline definition once' },
    );
  });

  test('a valid definition is the same as buildDefinition draws', () => {
    const viaPipeline = Pipeline.define((p) => p.start(A).divide({ to: [B, C] }).combine({ into: D }));
    const direct = define((p) => p.start(A).divide({ to: [B, C] }).combine({ into: D }));
    assert.deepEqual(viaPipeline.graph, direct.graph);
    assert.equal(viaPipeline.sha1, direct.sha1);
    assert.deepEqual([...viaPipeline.steps], [['A', A], ['B', B], ['C', C], ['D', D]]);
  });
});
