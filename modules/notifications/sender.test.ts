import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { createTransport } from "nodemailer";
import {
  ChannelSender,
  createNotificationSender,
  type NotificationSender,
  type OutgoingMessage,
  RecordingSender,
  SenderConfigurationError,
  SmtpSender,
} from "./sender.ts";

const email: OutgoingMessage = {
  channel: "email",
  to: "minji@example.test",
  subject: "[Agora] 주문 완료 · 주문번호 7",
  body: "결제 금액: 34,500원",
  template: "order.paid",
};
const sms: OutgoingMessage = {
  channel: "sms",
  to: "010-1234-5678",
  subject: "[Agora] 상품 발송",
  body: "[Agora] 주문 7 상품이 발송되었습니다.",
  template: "shipment.shipped",
};

interface SinkMail {
  from: string;
  to: string[];
  data: string;
}

/** A tiny SMTP server: enough of RFC 5321 for nodemailer (no TLS, no auth). Refuses RCPT for addresses starting with "nobody". */
function startSmtpSink(): Promise<{ server: Server; port: number; mails: SinkMail[] }> {
  const mails: SinkMail[] = [];
  const server = createServer((socket) => {
    socket.setEncoding("utf8");
    let buffer = "";
    let inData = false;
    let mail: SinkMail = { from: "", to: [], data: "" };
    socket.write("220 sink ESMTP\r\n");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            mails.push(mail);
            mail = { from: "", to: [], data: "" };
            socket.write("250 queued\r\n");
          } else mail.data += `${line.startsWith("..") ? line.slice(1) : line}\n`;
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") socket.write("250-sink\r\n250 8BITMIME\r\n");
        else if (verb === "HELO" || verb === "RSET" || verb === "NOOP") socket.write("250 ok\r\n");
        else if (verb === "MAIL") {
          mail.from = line.slice(10);
          socket.write("250 ok\r\n");
        } else if (verb === "RCPT") {
          const to = line.slice(8);
          if (to.startsWith("<nobody")) socket.write("550 no such mailbox\r\n");
          else {
            mail.to.push(to);
            socket.write("250 ok\r\n");
          }
        } else if (verb === "DATA") {
          inData = true;
          socket.write("354 go ahead\r\n");
        } else if (verb === "QUIT") socket.end("221 bye\r\n");
        else socket.write("502 not implemented\r\n");
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : 0, mails });
    });
  });
}

/** The text body of a raw message (nodemailer picks base64 or quoted-printable for UTF-8). */
function textOf(raw: string): string {
  const split = raw.indexOf("\n\n");
  const headers = raw.slice(0, split);
  const body = raw.slice(split + 2).trim();
  if (/Content-Transfer-Encoding: base64/i.test(headers)) return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (/Content-Transfer-Encoding: quoted-printable/i.test(headers)) {
    const bytes = body.replace(/=\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  }
  return body;
}

describe("SmtpSender builds the message", () => {
  test("From, To, Subject and the text body, UTF-8 intact", async () => {
    const transporter = createTransport({ jsonTransport: true });
    const sent: unknown[] = [];
    const original = transporter.sendMail.bind(transporter);
    // biome-ignore lint/suspicious/noExplicitAny: spying on nodemailer's overloaded sendMail
    (transporter as any).sendMail = async (options: unknown) => {
      const info = await original(options as never);
      sent.push(JSON.parse((info as { message: string }).message));
      return info;
    };
    await new SmtpSender({ from: "Agora <no-reply@agora.test>", transporter }).send(email);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      from: { address: "no-reply@agora.test", name: "Agora" },
      to: [{ address: "minji@example.test", name: "" }],
      subject: "[Agora] 주문 완료 · 주문번호 7",
      text: "결제 금액: 34,500원",
    });
  });

  test("an SMS is a configuration error, and nothing is sent", async () => {
    let calls = 0;
    const transporter = createTransport({ jsonTransport: true });
    // biome-ignore lint/suspicious/noExplicitAny: counting calls
    (transporter as any).sendMail = async () => {
      calls++;
      return {};
    };
    const sender = new SmtpSender({ from: "no-reply@agora.test", transporter });
    const error = await sender.send(sms).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SenderConfigurationError);
    expect((error as Error).message).toBe("SmtpSender sends email only, not sms (template shipment.shipped); give SMS its own sender");
    expect(calls).toBe(0);
  });

  test("needs a From address and a URL or a transporter", () => {
    expect(() => new SmtpSender({ from: "", url: "smtp://127.0.0.1:1" })).toThrow(SenderConfigurationError);
    expect(() => new SmtpSender({ from: "no-reply@agora.test" })).toThrow("SmtpSender: an SMTP URL (or a transporter) is required");
  });
});

describe("over SMTP to a local sink", () => {
  let sink: Awaited<ReturnType<typeof startSmtpSink>>;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(() => new Promise<void>((resolve) => sink.server.close(() => resolve())));

  test("the SMTP URL config sends email through the server and records SMS only", async () => {
    const before = sink.mails.length;
    const sender = createNotificationSender({ smtpUrl: `smtp://127.0.0.1:${sink.port}`, smtpFrom: "Agora <no-reply@agora.test>", smtpTimeoutMs: 2_000 });
    await sender.send(email);
    await sender.send(sms);
    expect(sink.mails.length - before).toBe(1);
    const mail = sink.mails.at(-1) as SinkMail;
    expect(mail.from).toBe("<no-reply@agora.test>");
    expect(mail.to).toEqual(["<minji@example.test>"]);
    expect(mail.data).toContain("From: Agora <no-reply@agora.test>");
    expect(mail.data).toContain("To: minji@example.test");
    expect(textOf(mail.data)).toBe("결제 금액: 34,500원");
  });

  test("a refused recipient fails the send (so the outbox retries)", async () => {
    const sender = new SmtpSender({ url: `smtp://127.0.0.1:${sink.port}`, from: "no-reply@agora.test", timeoutMs: 2_000 });
    const before = sink.mails.length;
    await expect(sender.send({ ...email, to: "nobody@example.test" })).rejects.toThrow("550 no such mailbox");
    expect(sink.mails.length).toBe(before);
  });

  test("an unreachable server fails the send at once", async () => {
    const closed = await startSmtpSink();
    const port = closed.port;
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const sender = new SmtpSender({ url: `smtp://127.0.0.1:${port}`, from: "no-reply@agora.test", timeoutMs: 1_000 });
    const started = performance.now();
    await expect(sender.send(email)).rejects.toThrow("ECONNREFUSED");
    expect(performance.now() - started).toBeLessThan(1_500);
  });
});

describe("without SMTP_URL", () => {
  test("email and SMS both go to the recording sender (nothing leaves the machine)", async () => {
    const seen: string[] = [];
    const spy = (name: string): NotificationSender => ({ send: async (m) => void seen.push(`${name}:${m.channel}`) });
    const routed = new ChannelSender({ email: spy("smtp"), sms: spy("sms-provider") });
    await routed.send(email);
    await routed.send(sms);
    expect(seen).toEqual(["smtp:email", "sms-provider:sms"]);
    const dev = createNotificationSender({ smtpUrl: undefined, smtpFrom: "x@agora.test", smtpTimeoutMs: 1_000 });
    await expect(dev.send(email)).resolves.toBeUndefined();
    await expect(dev.send(sms)).resolves.toBeUndefined();
    await expect(new RecordingSender().send(sms)).resolves.toBeUndefined();
  });
});
