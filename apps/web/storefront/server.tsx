/** The storefront's first view rendered on the server (apps/web/serve.ts loads this; the bundle does not). */
import { renderFirstView } from "../shared/render.tsx";
import { StorefrontApp } from "./app.tsx";

export function renderStorefront(path: string, answers: readonly [readonly unknown[], unknown][]): string {
  return renderFirstView(<StorefrontApp />, path, answers);
}
