/** The shell both apps start from: language and query providers, the render call, and the menu link. */
import { QueryClientProvider } from "@tanstack/react-query";
import { type ReactNode, StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import { Link, useLocation } from "wouter";
import { queryClient } from "./api.ts";
import { initialLang, type Lang, LangContext, saveLang } from "./i18n.ts";

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

function Providers({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = (next: Lang) => {
    saveLang(next);
    setLangState(next);
  };
  return (
    <LangContext.Provider value={{ lang, setLang }}>
      <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
    </LangContext.Provider>
  );
}

/** Renders an app into `#root` with the chosen language and the shared query client. */
export function mountApp(app: ReactNode) {
  saveLang(initialLang());
  createRoot(document.getElementById("root") as HTMLElement).render(
    <StrictMode>
      <Providers>{app}</Providers>
    </StrictMode>,
  );
}
