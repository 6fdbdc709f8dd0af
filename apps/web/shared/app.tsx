/** The shell both apps start from: language and query providers, the render call, and the menu link. */
import { type QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { type ComponentType, lazy, type ReactNode, StrictMode, useState } from "react";
import { createRoot, hydrateRoot } from "react-dom/client";
import superjson from "superjson";
import { Link, useLocation } from "wouter";
import { queryClient } from "./api.ts";
import { FIRST_VIEW_ELEMENT_ID } from "./first-view.ts";
import { initialLang, type Lang, LangContext, saveLang } from "./i18n.ts";

/**
 * A page loaded when first opened (its own chunk): the first view's bundle carries only what it shows.
 * `load` is `() => import("./page.tsx")`, `name` the page's export.
 */
export function lazyPage<M, K extends keyof M>(load: () => Promise<M>, name: K) {
  return lazy(async () => ({ default: (await load())[name] as ComponentType }));
}

/** The first view's answers the server sent inside the page (apps/web/serve.ts), into the query cache. */
function seedFirstView() {
  const element = document.getElementById(FIRST_VIEW_ELEMENT_ID);
  if (!element?.textContent) return;
  try {
    for (const [key, data] of superjson.parse<[unknown[], unknown][]>(element.textContent)) queryClient.setQueryData(key, data);
  } catch {
    // a page without usable answers asks for them itself
  }
  element.remove();
}

/** A menu link marked `aria-current="page"` on its own section ("/" only on the home page). */
export function NavLink({ href, children }: { href: string; children: string }) {
  const [location] = useLocation();
  const current = href === "/" ? location === "/" : location.startsWith(href);
  return (
    <Link href={href} aria-current={current ? "page" : undefined}>
      {children}
    </Link>
  );
}

/** Language and query cache for an app: the page's own (in the browser), or one request's (rendered on the server). */
export function Providers({ children, client = queryClient, lang: fixedLang }: { children: ReactNode; client?: QueryClient; lang?: Lang }) {
  const [lang, setLangState] = useState<Lang>(fixedLang ?? initialLang);
  const setLang = (next: Lang) => {
    saveLang(next);
    setLangState(next);
  };
  return (
    <LangContext.Provider value={{ lang, setLang }}>
      <QueryClientProvider client={client}>{children}</QueryClientProvider>
    </LangContext.Provider>
  );
}

/** The language the server renders a first view in (the visitor's choice is only known to the browser). */
export const SERVER_LANG: Lang = "ko";

/**
 * Renders an app into `#root` with the chosen language and the shared query client. When the server
 * already rendered the first view (`data-rendered` names its language) React takes that markup over;
 * a visitor who chose the other language gets a fresh render instead.
 */
export function mountApp(app: ReactNode) {
  const lang = initialLang();
  saveLang(lang);
  seedFirstView();
  const root = document.getElementById("root") as HTMLElement;
  const tree = (
    <StrictMode>
      <Providers>{app}</Providers>
    </StrictMode>
  );
  if (root.dataset.rendered === lang) hydrateRoot(root, tree);
  else createRoot(root).render(tree);
}
