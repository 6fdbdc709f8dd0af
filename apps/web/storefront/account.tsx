/** Sign-up, login, profile, password, logout. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useLocation } from "wouter";
import { loginInput, type SignUpInput, signUpInput, updateProfileInput } from "../../../modules/identity/schema.ts";
import { api, keepSession, logIn, logOut } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { Field, FormError, SubmitRow, useSchemaCheck } from "../shared/forms.tsx";
import { dateOnly, useLang, useT } from "../shared/i18n.ts";
import { useMe } from "../shared/session.ts";
import { formValues, Loading, Success } from "../shared/ui.tsx";
import { AddressBook, DeleteMyAccount } from "./addresses.tsx";

export function LoginPage() {
  const t = useT();
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const form = useSchemaCheck();
  const login = useMutation({
    mutationFn: (v: { email: string; password: string }) => logIn(v.email, v.password),
    onSuccess: async (user) => {
      await queries.invalidateQueries();
      // Registered by an operator: the temporary password must be replaced before anything else.
      navigate(user.mustChangePassword ? "/account" : "/");
    },
  });
  return (
    <form
      className="card stack"
      style={{ maxWidth: 460, margin: "0 auto" }}
      aria-label={t("로그인", "Log in")}
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        const v = formValues(event.currentTarget);
        const input = { email: v.email ?? "", password: v.password ?? "" };
        if (form.passes(loginInput, input, event.currentTarget)) login.mutate(input);
      }}
    >
      <h1>{t("로그인", "Log in")}</h1>
      <Field label={t("이메일", "Email")} error={form.errors.email}>
        <input name="email" type="email" required autoComplete="email" />
      </Field>
      <Field label={t("비밀번호", "Password")} error={form.errors.password}>
        <input name="password" type="password" required autoComplete="current-password" />
      </Field>
      <ErrorNotice error={login.error} />
      <div className="row">
        <button type="submit" disabled={login.isPending}>
          {t("로그인", "Log in")}
        </button>
        <Link href="/signup">{t("회원가입", "Sign up")}</Link>
      </div>
    </form>
  );
}

export function SignUpPage() {
  const t = useT();
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const form = useSchemaCheck();
  const signUp = useMutation({
    mutationFn: async (input: SignUpInput) => {
      const session = await api.identity.signUp.mutate(input);
      await keepSession(session.token);
    },
    onSuccess: async () => {
      await queries.invalidateQueries();
      navigate("/");
    },
  });
  return (
    <form
      className="card stack"
      style={{ maxWidth: 460, margin: "0 auto" }}
      aria-label={t("회원가입", "Sign up")}
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        const v = formValues(event.currentTarget);
        const input: SignUpInput = { email: v.email ?? "", password: v.password ?? "", name: v.name ?? "", ...(v.phone ? { phone: v.phone } : {}) };
        if (form.passes(signUpInput, input, event.currentTarget)) signUp.mutate(input);
      }}
    >
      <h1>{t("회원가입", "Sign up")}</h1>
      <Field label={t("이름", "Name")} error={form.errors.name}>
        <input name="name" required maxLength={100} autoComplete="name" />
      </Field>
      <Field label={t("이메일", "Email")} error={form.errors.email}>
        <input name="email" type="email" required autoComplete="email" />
      </Field>
      <Field label={t("비밀번호 (8자 이상)", "Password (8+ characters)")} error={form.errors.password}>
        <input name="password" type="password" required minLength={8} maxLength={128} autoComplete="new-password" />
      </Field>
      <Field label={t("휴대폰 (선택)", "Phone (optional)")} error={form.errors.phone}>
        <input name="phone" type="tel" autoComplete="tel" />
      </Field>
      <SubmitRow error={signUp.error} disabled={signUp.isPending}>
        {t("가입하기", "Create account")}
      </SubmitRow>
    </form>
  );
}

export function AccountPage() {
  const t = useT();
  const lang = useLang();
  const me = useMe();
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const [saved, setSaved] = useState(false);
  const profileForm = useSchemaCheck();
  const profile = useMutation({
    mutationFn: (input: { name: string; phone: string | null }) => api.identity.updateProfile.mutate(input),
    onSuccess: (user) => {
      queries.setQueryData(["me"], user);
      setSaved(true);
    },
  });
  const password = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api.identity.changePassword.mutate({ currentPassword: v.currentPassword ?? "", newPassword: v.newPassword ?? "" }),
    onSuccess: () => queries.invalidateQueries(),
  });
  const logout = useMutation({
    mutationFn: logOut,
    onSuccess: () => navigate("/"),
  });
  if (me.isPending) return <Loading />;
  if (!me.data)
    return (
      <p>
        <Link href="/login">{t("로그인", "Log in")}</Link>
      </p>
    );
  return (
    <div className="stack">
      <h1>{t("내 정보", "My account")}</h1>
      {me.data.mustChangePassword ? (
        <p className="notice" role="alert">
          {t("임시 비밀번호로 로그인했습니다. 아래에서 새 비밀번호를 정해 주세요.", "You logged in with a temporary password: set your own below first.")}
        </p>
      ) : null}
      <p className="muted">
        {me.data.email} · {t(`가입일 ${dateOnly(me.data.createdAt, lang)}`, `member since ${dateOnly(me.data.createdAt, lang)}`)}
      </p>
      <form
        className="card stack"
        aria-label={t("프로필", "Profile")}
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          setSaved(false);
          const v = formValues(event.currentTarget);
          const input = { name: v.name ?? "", phone: v.phone ? v.phone : null };
          if (profileForm.passes(updateProfileInput, input, event.currentTarget)) profile.mutate(input);
        }}
      >
        <h2>{t("프로필", "Profile")}</h2>
        <Field label={t("이름", "Name")} error={profileForm.errors.name}>
          <input name="name" defaultValue={me.data.name} required autoComplete="name" />
        </Field>
        <Field label={t("휴대폰", "Phone")} error={profileForm.errors.phone}>
          <input name="phone" defaultValue={me.data.phone ?? ""} type="tel" autoComplete="tel" />
        </Field>
        <FormError errors={profileForm.errors} />
        <ErrorNotice error={profile.error} />
        {saved ? <Success>{t("저장했습니다.", "Saved.")}</Success> : null}
        <div>
          <button type="submit">{t("저장", "Save")}</button>
        </div>
      </form>
      <form
        className="card stack"
        aria-label={t("비밀번호 변경", "Change password")}
        onSubmit={(event) => {
          event.preventDefault();
          password.mutate(formValues(event.currentTarget));
          event.currentTarget.reset();
        }}
      >
        <h2>{t("비밀번호 변경", "Change password")}</h2>
        <label>
          {t("현재 비밀번호", "Current password")}
          <input name="currentPassword" type="password" required autoComplete="current-password" />
        </label>
        <label>
          {t("새 비밀번호 (8자 이상)", "New password (8+ characters)")}
          <input name="newPassword" type="password" required minLength={8} autoComplete="new-password" />
        </label>
        <ErrorNotice error={password.error} />
        {password.isSuccess ? (
          <Success>{t("비밀번호를 바꿨습니다. 다른 기기의 로그인은 종료되었습니다.", "Password changed; other sessions were ended.")}</Success>
        ) : null}
        <div>
          <button type="submit">{t("변경", "Change")}</button>
        </div>
      </form>
      {me.data.mustChangePassword ? null : <AddressBook />}
      <div>
        <button type="button" className="secondary" onClick={() => logout.mutate()}>
          {t("로그아웃", "Log out")}
        </button>
      </div>
      {me.data.mustChangePassword ? null : <DeleteMyAccount />}
    </div>
  );
}
