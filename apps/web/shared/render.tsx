/**
 * Server side only (apps/web/serve.ts loads it; no page imports it): an app's first view rendered to HTML
 * from the answers the server sends with the page, so the browser paints the real content before the
 * bundle runs. The bundle then takes the markup over (shared/app.tsx, hydrateRoot) with the same answers.
 */
import { QueryClient } from "@tanstack/react-query";
import { type ReactNode, StrictMode } from "react";
import { renderToString } from "react-dom/server";
import { Router } from "wouter";
import { Providers, SERVER_LANG } from "./app.tsx";

export function renderFirstView(app: ReactNode, path: string, answers: readonly [readonly unknown[], unknown][]): string {
  // One cache per request: nothing of one caller's answers reaches another's page.
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, retry: false } } });
  for (const [key, data] of answers) client.setQueryData(key, data);
  return renderToString(
    <StrictMode>
      <Providers client={client} lang={SERVER_LANG}>
        <Router ssrPath={path}>{app}</Router>
      </Providers>
    </StrictMode>,
  );
}
