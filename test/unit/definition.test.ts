import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Pipeline } from '../../src/client/pipeline.js';
import { buildDefinition } from '../../src/definition/define.js';
import type { PipelineBuilder } from '../../src/definition/builder.js';
import { Step } from '../../src/definition/step.js';
import type { DefinitionError } from '../../src/errors.js';

// These tests check the runtime drawing; data-flow types are proven in test/types.
class A extends Step {
  execute(n: unknown) {
    return n;
  }
}
class B extends Step {
  execute(n: unknown) {
    return n;
  }
}
class C extends Step {
  execute(n: unknown) {
    return n;
  }
}
class D extends Step {
  execute(n: unknown) {
    return n;
  }
}
class List extends Step {
  execute(): number[] {
    return [];
  }
}
class Key extends Step {
  execute(): string {
    return 'k';
  }
}

// Invalid shapes are built on purpose here, so the draw functions are untyped.
type Draw = (p: PipelineBuilder) => unknown;
const define = (draw: Draw) => buildDefinition('Named', draw as never);

function rejects(draw: Draw, code: string, message: string | RegExp) {
  assert.throws(
    () => define(draw),
    (error: DefinitionError) => {
      assert.equal(error.name, 'DefinitionError');
      assert.equal(error.code, code, error.message);
      if (typeof message === 'string') assert.equal(error.message, `Pipeline Named: ${message}`);
      else assert.match(error.message, message);
      assert.equal(error.details.pipeline, 'Named');
      return true;
    },
  );
}

describe('builder errors (the original messages where they exist)', () => {
  test('start twice', () => rejects((p) => p.start(A).start(B), 'start_error', 'Can only start pipeline definition once'));

  const before: [string, string, Draw][] = [
    ['chain', 'chaining', (p) => p.chain(A)],
    ['divide', 'dividing chain', (p) => p.divide({ to: [A] })],
    ['combine', 'combining steps', (p) => p.combine({ into: A } as never)],
    ['expand', 'expanding chain', (p) => p.expand({ to: A } as never)],
    ['collapse', 'collapsing steps', (p) => p.collapse({ into: A } as never)],
    ['divert', 'diverting chain', (p) => p.divert({ to: { otherwise: A } } as never)],
    ['converge', 'converging steps', (p) => p.converge({ into: A } as never)],
  ];
  for (const [call, doing, draw] of before) {
    test(`${call} before start`, () => rejects(draw, 'start_error', `Must start pipeline definition before ${doing}`));
  }
  test('a definition that never starts', () => rejects(() => undefined, 'start_error', 'Must start pipeline definition before completing'));

  test('combine without a divide', () => rejects((p) => p.start(A).combine({ into: B } as never), 'combine_error', 'Must divide pipeline definition before combining steps'));
  test('combine over an open expand', () =>
    rejects((p) => p.start(List).expand({ to: A }).combine({ into: B } as never), 'combine_error', 'Ambiguous combine on most recently expanded definition'));
  test('combine over an open divert', () =>
    rejects((p) => p.start(Key).divert({ to: { k: C, otherwise: D } }).combine({ into: B } as never), 'combine_error', 'Ambiguous combine on most recently diverted definition'));
  test('collapse without an expand', () => rejects((p) => p.start(A).collapse({ into: B } as never), 'collapse_error', 'Must expand pipeline definition before collapsing steps'));
  test('collapse over an open divide', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }).collapse({ into: D } as never), 'collapse_error', 'Ambiguous collapse on most recently divided definition'));
  test('converge without a divert', () => rejects((p) => p.start(A).converge({ into: B } as never), 'converge_error', 'Must divert pipeline definition before converging steps'));
  test('converge over an open expand', () =>
    rejects((p) => p.start(List).expand({ to: A }).converge({ into: B } as never), 'converge_error', 'Ambiguous converge on most recently divided/expanded definition'));
  test('divert without otherwise', () => rejects((p) => p.start(Key).divert({ to: { k: C } } as never), 'divert_error', 'Must specify an `otherwise` branch'));
  test('divert without otherwise inside a lane block', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }, (([b, c]: PipelineBuilder[]) => [b!.divert({ to: { x: D } } as never), c]) as never), 'divert_error', 'divide lane 1: Must specify an `otherwise` branch'));
  test('divert with no mapping', () => rejects((p) => p.start(Key).divert({ to: [C] } as never), 'divert_error', /divert needs `to`: an object/));
  test('divide with an empty list', () => rejects((p) => p.start(A).divide({ to: [] }), 'divide_error', /divide needs `to`: a non-empty array/));

  test('invalid step classes', () => {
    rejects((p) => p.start({} as never), 'step_class_invalid', /^Pipeline Named: Argument must be a valid step class \(in start: got \{\}/);
    rejects((p) => p.start(class NoExecute {} as never), 'step_class_invalid', /Argument must be a valid step class \(in start: got NoExecute/);
    rejects(
      (p) => p.start(class TwoArgs { execute(_a: unknown, _b: unknown) {} } as never),
      'step_class_invalid',
      /Argument must be a valid step class \(in start: got TwoArgs/,
    );
    rejects((p) => p.start(A).divide({ to: [B, 'C' as never] }), 'step_class_invalid', /Arguments must be a valid step class \(in divide: got "C"/);
    rejects((p) => p.start(A).chain({ to: undefined } as never), 'step_class_invalid', /Argument must be a valid step class \(in chain/);
  });

  test('two different classes with one step name', () => {
    const Other = class A extends Step {
      execute() {
        return 1;
      }
    };
    rejects((p) => p.start(A).chain(Other), 'step_class_invalid', /two different step classes are both named "A"/);
  });

  test('a lane that leaves a fan-out open', () =>
    rejects(
      (p) => p.start(A).divide({ to: [List, B] }, (([l, b]: PipelineBuilder[]) => [l!.expand({ to: C } as never), b]) as never).combine({ into: D } as never),
      'divide_error',
      'divide lane 1 leaves a expand open; close it inside the block (collapse)',
    ));
  test('a divide block returning the wrong lanes', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }, (([b]: PipelineBuilder[]) => [b]) as never), 'divide_error', /the divide block must return its lanes \(an array of 2 builders\)/));
  test('a lane starting again', () =>
    rejects((p) => p.start(A).divide({ to: [B, C] }, (([b, c]: PipelineBuilder[]) => [b!.start(D), c]) as never), 'start_error', 'divide lane 1: Can only start pipeline definition once'));
});

describe('the graph each transition draws', () => {
  test('chain links every frontier node to one new node', () => {
    const { graph } = define((p) => p.start(A).chain(B).chain({ to: A }));
    assert.deepEqual(graph.nodes, ['A.1', 'B.1', 'A.2']);
    assert.deepEqual(graph.edges, {
      'A.1': { klass: 'A', type: 'chain', to: ['B.1'] },
      'B.1': { klass: 'B', type: 'chain', to: ['A.2'] },
      'A.2': { klass: 'A' },
    });
  });

  test('divide, chain after a divide (each lane to one node), combine', () => {
    const { graph } = define((p) => p.start(A).divide({ to: [B, C] }).chain(D).combine({ into: A }));
    assert.deepEqual(graph.edges['A.1'], { klass: 'A', type: 'divide', to: ['B.1', 'C.1'] });
    assert.deepEqual(graph.edges['B.1'], { klass: 'B', type: 'chain', to: ['D.1'] });
    assert.deepEqual(graph.edges['C.1'], { klass: 'C', type: 'chain', to: ['D.1'] });
    assert.deepEqual(graph.edges['D.1'], { klass: 'D', type: 'combine', to: ['A.2'] });
  });

  test('expand and collapse stamp the collapse target on the expand edge', () => {
    const { graph } = define((p) => p.start(List).expand({ to: A }).chain(B).collapse({ into: C }));
    assert.deepEqual(graph.edges['List.1'], { klass: 'List', type: 'expand', to: ['A.1'], collapse_into: 'C.1' });
    assert.deepEqual(graph.edges['B.1'], { klass: 'B', type: 'collapse', to: ['C.1'] });
  });

  test('nested expands: each collapse closes its own expand', () => {
    const { graph } = define((p) => p.start(List).expand({ to: List }).expand({ to: A }).collapse({ into: C }).collapse({ into: D }));
    assert.deepEqual(graph.edges['List.1'], { klass: 'List', type: 'expand', to: ['List.2'], collapse_into: 'D.1' });
    assert.deepEqual(graph.edges['List.2'], { klass: 'List', type: 'expand', to: ['A.1'], collapse_into: 'C.1' });
    assert.deepEqual(graph.edges['C.1'], { klass: 'C', type: 'collapse', to: ['D.1'] });
  });

  test('divert maps route keys to nodes; converge joins them', () => {
    const { graph } = define((p) => p.start(Key).divert({ to: { k: C, otherwise: D } }).converge({ into: A }));
    assert.deepEqual(graph.edges['Key.1'], { klass: 'Key', type: 'divert', to: { k: 'C.1', otherwise: 'D.1' } });
    assert.deepEqual(graph.edges['C.1'], { klass: 'C', type: 'converge', to: ['A.1'] });
    assert.deepEqual(graph.edges['D.1'], { klass: 'D', type: 'converge', to: ['A.1'] });
  });

  test('block forms: the lanes\' last nodes are what the fan-in links from', () => {
    const divided = define((p) => p.start(A).divide({ to: [B, C] }, (([b, c]: PipelineBuilder[]) => [b!.chain(D).chain(A), c]) as never).combine({ into: D } as never));
    assert.deepEqual(divided.graph.edges['B.1'], { klass: 'B', type: 'chain', to: ['D.1'] });
    assert.deepEqual(divided.graph.edges['A.2'], { klass: 'A', type: 'combine', to: ['D.2'] });
    assert.deepEqual(divided.graph.edges['C.1'], { klass: 'C', type: 'combine', to: ['D.2'] });

    const diverted = define((p) =>
      p.start(Key).divert({ to: { k: C, otherwise: D } }, ((lanes: Record<string, PipelineBuilder>) => ({ k: lanes.k!.chain(A), otherwise: lanes.otherwise })) as never).converge({ into: B } as never),
    );
    assert.deepEqual(diverted.graph.edges['A.1'], { klass: 'A', type: 'converge', to: ['B.1'] });
    assert.deepEqual(diverted.graph.edges['D.1'], { klass: 'D', type: 'converge', to: ['B.1'] });
  });

  test('onHalt is recorded in the metadata and its class in the registry', () => {
    const { graph, steps } = define((p) => p.start(A).onHalt(C));
    assert.deepEqual(graph.metadata, { on_halt: { klass: 'C' } });
    assert.equal(steps.get('C'), C);
  });

  test('an open fan-out at the end is allowed (its branches end on their own)', () => {
    const { graph } = define((p) => p.start(List).expand({ to: A }));
    assert.deepEqual(graph.edges['A.1'], { klass: 'A' });
  });

  test('static stepName names the step', () => {
    class Renamed extends Step {
      static override stepName = 'LegacyName';
      execute() {
        return 1;
      }
    }
    const { graph, steps } = define((p) => p.start(Renamed));
    assert.deepEqual(graph.nodes, ['LegacyName.1']);
    assert.equal(steps.get('LegacyName'), Renamed);
  });

  test('the definition is frozen, and its sha1 follows its content', () => {
    const one = define((p) => p.start(A).chain(B));
    assert.ok(Object.isFrozen(one.graph) && Object.isFrozen(one.graph.edges['A.1']));
    assert.throws(() => ((one.graph.nodes as string[]).push('X')), TypeError);
    assert.equal(define((p) => p.start(A).chain(B)).sha1, one.sha1);
    assert.notEqual(define((p) => p.start(A).chain(C)).sha1, one.sha1);
  });
});

describe('Pipeline.define and trigger', () => {
  test('errors from Pipeline.define name where the pipeline was defined', () => {
    assert.throws(
      () => Pipeline.define((p) => p.start(A).combine({ into: B } as never) as never),
      (error: DefinitionError) => /Pipeline \(defined at .*definition\.test\.js:\d+:\d+\)?: Must divide pipeline definition before combining steps/.test(error.message),
    );
  });

  test('this.define inside a class body names the pipeline', () => {
    assert.throws(
      () =>
        class Broken extends Pipeline {
          static override definition = this.define((p) => p.start(A).collapse({ into: B } as never) as never);
        },
      /Pipeline Broken: Must expand pipeline definition before collapsing steps/,
    );
  });
});
