/**
 * The sending port and its adapters. The service records every message in notification_messages
 * before it hands it to a sender, so a sender only has to deliver (or throw).
 *
 *   RecordingSender  dev and tests: nothing leaves the machine; the recorded row IS the delivery.
 *   SmtpSender       email through an SMTP server (nodemailer), from an SMTP URL.
 *   HttpSmsSender    SMS through an HTTP SMS provider (contract below; apps/fakes/sms.ts speaks it).
 *   ChannelSender    picks a sender per channel; `createNotificationSender` builds it from config.
 *
 * SMS provider contract:
 *   POST {baseUrl}/v1/messages   Idempotency-Key: agora-notification-<message id>, body { to, from?, text }
 *     2xx { status: "accepted", messageId }   anything else (or no answer) → an error: the outbox retries,
 *     and the same key makes the provider send it once.
 */
import { createTransport, type Transporter } from "nodemailer";
import { type JsonClient, type JsonEndpoint, jsonClient, type Logger } from "../kernel/index.ts";

export type Channel = "email" | "sms";

export interface OutgoingMessage {
  channel: Channel;
  /** An email address or a phone number, per channel. */
  to: string;
  subject: string;
  body: string;
  template: string;
  /** The recorded message's id: a provider that de-duplicates gets it as the idempotency key. */
  id?: number;
}

export interface NotificationSender {
  /** Resolves once the provider accepted the message; throws otherwise (the outbox retries). */
  send(message: OutgoingMessage): Promise<void>;
}

/** The sender cannot ever deliver this message as configured: retrying will not help. */
export class SenderConfigurationError extends Error {
  override name = "SenderConfigurationError";
}

/** Delivers nothing: the service's row in notification_messages is the whole delivery (admin.list shows it). */
export class RecordingSender implements NotificationSender {
  readonly #logger: Logger | undefined;
  constructor(options: { logger?: Logger } = {}) {
    this.#logger = options.logger;
  }

  async send(message: OutgoingMessage): Promise<void> {
    // No recipient or body in the log: they are personal data, and the row already holds them.
    this.#logger?.debug({ channel: message.channel, template: message.template }, "notification recorded, not sent (recording sender)");
  }
}

export interface SmtpSenderOptions {
  /** smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465. */
  url?: string;
  /** The From header, e.g. "Agora <no-reply@agora.example>". */
  from: string;
  /**
   * Connection, greeting and socket timeouts. Keep them well under the outbox lease, so a hung
   * server fails the attempt (and it is retried) before another poller may take the event.
   */
  timeoutMs?: number;
  /** A ready nodemailer transporter instead of `url` (tests use jsonTransport/streamTransport). */
  transporter?: Transporter;
}

export class SmtpSender implements NotificationSender {
  readonly #transporter: Transporter;
  readonly #from: string;

  constructor(options: SmtpSenderOptions) {
    if (!options.from.trim()) throw new SenderConfigurationError("SmtpSender: a From address is required");
    if (options.transporter) this.#transporter = options.transporter;
    else if (options.url) {
      const timeoutMs = options.timeoutMs ?? 10_000;
      this.#transporter = createTransport({ url: options.url, connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs });
    } else throw new SenderConfigurationError("SmtpSender: an SMTP URL (or a transporter) is required");
    this.#from = options.from;
  }

  async send(message: OutgoingMessage): Promise<void> {
    if (message.channel !== "email") {
      throw new SenderConfigurationError(`SmtpSender sends email only, not ${message.channel} (template ${message.template}); give SMS its own sender`);
    }
    const info = await this.#transporter.sendMail({ from: this.#from, to: message.to, subject: message.subject, text: message.body });
    // An SMTP server may accept the envelope yet refuse every recipient: that is not a delivery.
    const rejected = (info as { rejected?: unknown[] }).rejected ?? [];
    const accepted = (info as { accepted?: unknown[] }).accepted;
    if (rejected.length > 0 && (!accepted || accepted.length === 0)) throw new Error(`SMTP server rejected the recipient (template ${message.template})`);
  }

  /** Closes pooled connections (none unless the URL asked for a pool). */
  close(): void {
    this.#transporter.close();
  }
}

export interface HttpSmsSenderOptions extends JsonEndpoint {
  /** The sending number or name registered with the provider. */
  from?: string;
}

export class HttpSmsSender implements NotificationSender {
  readonly #from: string | undefined;
  readonly #http: JsonClient;

  constructor(options: HttpSmsSenderOptions) {
    this.#from = options.from;
    // The message row that failed records its template; the error says what went wrong with the provider.
    this.#http = jsonClient(options, "HttpSmsSender", (error) => new Error(`SMS provider: ${error.message}`, { cause: error }));
  }

  async send(message: OutgoingMessage): Promise<void> {
    if (message.channel !== "sms") throw new SenderConfigurationError(`HttpSmsSender sends SMS only, not ${message.channel} (template ${message.template})`);
    const key = message.id === undefined ? `agora-sms-${crypto.randomUUID()}` : `agora-notification-${message.id}`;
    const answer = await this.#http.post("/v1/messages", key, { to: message.to, ...(this.#from ? { from: this.#from } : {}), text: message.body });
    const accepted = (answer.body as { status?: unknown } | null)?.status === "accepted";
    if (answer.status < 200 || answer.status >= 300 || !accepted) {
      throw new Error(`SMS provider answered ${answer.status} (template ${message.template}): ${answer.text.slice(0, 200)}`);
    }
  }
}

/** One sender per channel. */
export class ChannelSender implements NotificationSender {
  readonly #senders: Record<Channel, NotificationSender>;
  constructor(senders: Record<Channel, NotificationSender>) {
    this.#senders = senders;
  }

  send(message: OutgoingMessage): Promise<void> {
    return this.#senders[message.channel].send(message);
  }
}

export interface NotificationSenderConfig {
  /** Unset: every email is only recorded (dev). */
  smtpUrl: string | undefined;
  smtpFrom: string;
  smtpTimeoutMs: number;
  /** Unset: every SMS is only recorded (dev). */
  smsUrl?: string;
  smsApiKey?: string;
  smsFrom?: string;
  smsTimeoutMs?: number;
}

/** SMTP_URL set → email over SMTP; SMS_URL set → SMS through the HTTP provider; otherwise recorded only. */
export function createNotificationSender(config: NotificationSenderConfig, logger?: Logger): NotificationSender {
  const recording = new RecordingSender({ logger });
  const email = config.smtpUrl ? new SmtpSender({ url: config.smtpUrl, from: config.smtpFrom, timeoutMs: config.smtpTimeoutMs }) : recording;
  const sms = config.smsUrl
    ? new HttpSmsSender({ baseUrl: config.smsUrl, apiKey: config.smsApiKey, from: config.smsFrom, timeoutMs: config.smsTimeoutMs ?? 5_000 })
    : recording;
  return new ChannelSender({ email, sms });
}
