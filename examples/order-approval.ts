/**
 * Time and control in one example: an order waits for a person's approval (a signal) for two
 * days, escalates without one, and ships a day after approval; a keyed trigger makes
 * "commit the order and start its pipeline" idempotent; a cron schedule sends a daily digest.
 */
import { Pipeline, Step } from '../src/index.js';

export interface Order {
  orderId: string;
  amountCents: number;
}
export interface Approval {
  approvedBy: string;
}

export class ReceiveOrder extends Step {
  execute(order: Order): Order {
    return order;
  }
}
export class Escalate extends Step {
  execute(order: Order): { escalated: string } {
    return { escalated: order.orderId };
  }
}
export class Ship extends Step {
  execute(decision: Approval | { escalated: string }) {
    return 'approvedBy' in decision ? { shipped: true, by: decision.approvedBy } : { shipped: false, escalated: decision.escalated };
  }
}

// The timeouts and the delay are short here so the example's test runs quickly; in production
// they would read '2d' and '24h'.
export class OrderApproval extends Pipeline {
  static override definition = Pipeline.define((p) =>
    p
      .start(ReceiveOrder)
      .wait<Approval, typeof Escalate>({ event: 'approved', timeout: '2s', onTimeout: Escalate })
      .chain({ to: Ship, after: '1s' }),
  );
}

export class SendDigest extends Step {
  execute(input: { list: string }) {
    return { sent: input.list };
  }
}
export class DailyDigest extends Pipeline {
  static override schedules = [{ cron: '0 8 * * *', timezone: 'Europe/Paris', input: { list: 'ops' }, missed: 'catch_up' as const }];
  static override definition = Pipeline.define((p) => p.start(SendDigest));
}
