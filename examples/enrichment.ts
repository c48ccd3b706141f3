/**
 * The overview's enrichment pipeline: query stale users, enrich each on its own branch from two
 * sources in parallel, update, route by outcome, and report once every user is done.
 * Run the engine with `app: './dist/examples/enrichment.js'` and trigger EnrichAllUsersData.
 */
import { Pipeline, Step } from '../src/index.js';

interface User {
  id: number;
  email: string;
}
const users: User[] = Array.from({ length: 5 }, (_, i) => ({ id: i + 1, email: `user${i + 1}@example.com` }));

export class QueryUsers extends Step {
  async execute({ daysOutdated }: { daysOutdated: number }): Promise<number[]> {
    return users.filter((u) => u.id % 2 === 1 || daysOutdated > 3).map((u) => u.id);
  }
}
export class LoadUserData extends Step {
  async execute(id: number): Promise<User> {
    return users.find((u) => u.id === id)!;
  }
}
export class FetchFromCrm extends Step {
  async execute(user: User) {
    return { id: user.id, plan: user.id % 3 === 0 ? 'enterprise' : 'team' };
  }
}
export class FetchFromBilling extends Step {
  async execute(user: User) {
    return { id: user.id, overdue: user.id === 4 };
  }
}
export class CollateUserData extends Step {
  execute([crm, billing]: [{ id: number; plan: string }, { id: number; overdue: boolean }]) {
    return { id: crm.id, plan: crm.plan, overdue: billing.overdue };
  }
}
export class UpdateUserData extends Step {
  async execute(data: { id: number; plan: string; overdue: boolean }) {
    // A real step would upsert with { key: this.idempotencyKey } so a re-run writes once.
    return { ...data, route: data.overdue ? 'review' : 'success' };
  }
}
export class NotifyUser extends Step {
  execute(data: { id: number }) {
    return `${data.id}:notified`;
  }
}
export class FlagForReview extends Step {
  execute(data: { id: number }) {
    return `${data.id}:flagged`;
  }
}
export class FinalizeUserRecord extends Step {
  execute(line: string) {
    return line;
  }
}
export class ReportEnrichment extends Step {
  execute(lines: string[]) {
    return { enriched: lines.length, lines };
  }
}

export class EnrichAllUsersData extends Pipeline {
  static override definition = Pipeline.define((p) =>
    p
      .start(QueryUsers)
      .expand({ to: LoadUserData })
      .divide({ to: [FetchFromCrm, FetchFromBilling] })
      .combine({ into: CollateUserData })
      .chain({ to: UpdateUserData })
      .divert({ to: { success: NotifyUser, otherwise: FlagForReview } })
      .converge({ into: FinalizeUserRecord })
      .collapse({ into: ReportEnrichment }),
  );
}
