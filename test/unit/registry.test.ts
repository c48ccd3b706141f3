import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findPipelines, stepRegistry, type FoundPipeline } from '../../src/definition/registry.js';
import { DefinitionError, Pipeline, Step } from '../../src/index.js';

class Fetch extends Step {
  execute(n: number) {
    return n;
  }
}
class Store extends Step {
  execute(n: number) {
    return n;
  }
}
class Notify extends Step {
  static override stepName = 'notify.v2';
  execute(n: number) {
    return n;
  }
}
class OnHalt extends Step {
  execute() {
    return null;
  }
}

class Orders extends Pipeline {
  static override definition = this.define((p) => p.start(Fetch).chain(Store));
}
class Billing extends Pipeline {
  static override pipelineName = 'billing.v2';
  static override definition = this.define((p) => p.start(Fetch).chain(Notify).onHalt(OnHalt));
}
class Nested extends Pipeline {
  static override definition = this.define((p) => p.start(Store));
}

/** Errors of this module are DefinitionErrors with code app_module_invalid. */
function appModuleError(fn: () => unknown, message: RegExp, details: Record<string, unknown>): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DefinitionError, String(error));
    assert.equal(error.code, 'app_module_invalid');
    assert.match(error.message, message);
    assert.deepEqual({ ...error.details }, details);
    return true;
  });
}

const names = (found: FoundPipeline[]) => found.map((p) => p.name).sort();

describe('findPipelines', () => {
  test('finds exported pipeline classes and ignores every other export', () => {
    const found = findPipelines({
      Orders,
      Billing,
      Fetch, // a step class
      Pipeline, // the base class itself: no definition
      Undefined: class Undefined extends Pipeline {},
      helper: () => 1,
      VERSION: 3,
      settings: { retries: 2 },
      nothing: null,
      definitionOnly: Orders.definition, // the definition object without its class
      Fake: class Fake {
        static definition = { graph: {}, steps: {} }; // duck type fails: steps is not a Map
      },
      NoGraph: class NoGraph {
        static definition = { steps: new Map() };
      },
    });
    assert.deepEqual(names(found), ['Orders', 'billing.v2']);
    assert.equal(found.find((p) => p.name === 'Orders')?.definition, Orders.definition);
  });

  test('static pipelineName wins over the class name', () => {
    const [found] = findPipelines({ Billing });
    assert.equal(found?.name, 'billing.v2');
    assert.equal(found?.definition, Billing.definition);
  });

  test('a subclass inheriting its parent\'s definition is not a second pipeline', () => {
    class Base extends Pipeline {
      static override definition = Pipeline.define((p) => p.start(Fetch));
    }
    class Sub extends Base {}
    assert.deepEqual(findPipelines({ Base, Sub }).map((p) => p.name), ['Base']);
  });

  test('looks inside a default export object', () => {
    assert.deepEqual(names(findPipelines({ default: { Nested, Orders }, Billing })), ['Nested', 'Orders', 'billing.v2']);
  });

  test('a default-exported class is found once, under its own name', () => {
    assert.deepEqual(names(findPipelines({ default: Orders })), ['Orders']);
    assert.deepEqual(names(findPipelines({ default: Orders, Orders })), ['Orders']);
  });

  test('the same class exported twice (alias, and in default) is one pipeline', () => {
    const found = findPipelines({ Orders, Alias: Orders, default: { Orders } });
    assert.equal(found.length, 1);
  });

  test('a null or primitive default export is ignored', () => {
    assert.deepEqual(names(findPipelines({ default: null, Orders })), ['Orders']);
    assert.deepEqual(names(findPipelines({ default: 'x', Orders })), ['Orders']);
    assert.deepEqual(findPipelines({}), []);
  });

  test('two different pipelines with one name are an error naming it', () => {
    class Imposter extends Pipeline {
      static override pipelineName = 'Orders';
      static override definition = this.define((p) => p.start(Store));
    }
    appModuleError(() => findPipelines({ Orders, Imposter }), /Two exported pipelines are both named "Orders"; set a distinct `static pipelineName`/, { pipeline: 'Orders' });
    // The clash is found across the named exports and the default export object too.
    appModuleError(() => findPipelines({ Orders, default: { Imposter } }), /both named "Orders"/, { pipeline: 'Orders' });
  });
});

describe('stepRegistry', () => {
  test('maps every step name of every pipeline to its class, on_halt handlers included', () => {
    const registry = stepRegistry(findPipelines({ Orders, Billing }));
    assert.deepEqual([...registry.keys()].sort(), ['Fetch', 'OnHalt', 'Store', 'notify.v2']);
    assert.equal(registry.get('Fetch'), Fetch);
    assert.equal(registry.get('Store'), Store);
    assert.equal(registry.get('OnHalt'), OnHalt);
  });

  test('static stepName is the registry name, not the class name', () => {
    const registry = stepRegistry(findPipelines({ Billing }));
    assert.equal(registry.get('notify.v2'), Notify);
    assert.equal(registry.has('Notify'), false);
  });

  test('one class used by several pipelines is fine', () => {
    const registry = stepRegistry(findPipelines({ Orders, Billing, Nested }));
    assert.equal(registry.get('Store'), Store);
    assert.equal(registry.get('Fetch'), Fetch);
  });

  test('no pipelines, no steps', () => {
    assert.equal(stepRegistry([]).size, 0);
  });

  test('two different classes with one step name across pipelines are an error naming both pipelines', () => {
    // Each pipeline is valid alone; only the app module as a whole is ambiguous.
    const OtherStore = class Store extends Step {
      execute(n: number) {
        return n + 1;
      }
    };
    class Archive extends Pipeline {
      static override definition = this.define((p) => p.start(OtherStore));
    }
    appModuleError(
      () => stepRegistry(findPipelines({ Orders, Archive })),
      /Step name "Store" is used by different classes in Orders and Archive; .*distinct `static stepName`/,
      { step: 'Store' },
    );
  });

  test('a stepName that collides with another class name is an error too', () => {
    class Renamed extends Step {
      static override stepName = 'Fetch';
      execute(n: number) {
        return n;
      }
    }
    class Other extends Pipeline {
      static override definition = this.define((p) => p.start(Renamed));
    }
    appModuleError(() => stepRegistry(findPipelines({ Orders, Other })), /Step name "Fetch"/, { step: 'Fetch' });
  });
});
