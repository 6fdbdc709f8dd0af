import type { Tx } from "../../db/index.ts";

export interface NewOutboxRow {
  id: string;
  aggregateType: string;
  aggregateId: string;
  type: string;
  payload: unknown;
  at: Date;
}

export const outboxRepository = {
  async insertMany(trx: Tx, rows: NewOutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    await trx
      .insertInto("outbox_events")
      .values(
        rows.map((row) => ({
          id: row.id,
          aggregate_type: row.aggregateType,
          aggregate_id: row.aggregateId,
          type: row.type,
          payload: JSON.stringify(row.payload),
          status: "pending" as const,
          next_attempt_at: row.at,
          created_at: row.at,
        })),
      )
      .execute();
  },

};
